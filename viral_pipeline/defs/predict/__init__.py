"""On-demand predictions: the prediction_requests sensor launches one `predict` run per request."""
