"""Clients of external data sources (Apify)."""
