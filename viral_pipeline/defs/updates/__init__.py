"""The update model: an updated prediction once a video's early views are known."""
