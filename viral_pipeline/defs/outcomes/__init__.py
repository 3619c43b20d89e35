"""Outcomes of predicted videos: the prediction_outcomes asset and the hourly evaluate_predictions schedule."""
