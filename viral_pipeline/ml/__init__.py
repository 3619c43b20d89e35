"""The model half's data plumbing outside the pure engine: the bundled fallback training set
(`viral_pipeline.ml.fallback`), used when the application database holds too few labelled videos."""
