"""What comes in: scraped Apify items, the analyze request body, creator profiles and follower
tiers.
"""
