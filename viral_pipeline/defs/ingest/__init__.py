"""Ingestion: scraped_videos and what derives from it (creator_profiles, trending_sounds)."""
