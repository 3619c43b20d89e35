"""Creator profiles on demand: the profile_requests sensor launches one profile scrape per request."""
