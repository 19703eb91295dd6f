"""Dagster definitions for cviz: thin assets over the computation in ``cviz``."""
