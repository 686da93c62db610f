"""The database seam: engine, schema, upserts, bookkeeping, lock, views, indexes (dialects here)."""
