"""viral_pipeline: predicts which short videos will go viral, and keeps that prediction honest."""
