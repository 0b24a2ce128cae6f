"""The store-backed incremental KPI engine: what changed since the last refresh, recounted."""
