"""Dagster definitions by domain, discovered by `dg.load_from_defs_folder`."""
