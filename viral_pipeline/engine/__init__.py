"""The pure engine: no Dagster, web or database imports. Everything here is plain data in, data out."""
