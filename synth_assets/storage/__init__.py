"""Parquet is the source of truth; DuckDB holds views over it for people and SQL."""
