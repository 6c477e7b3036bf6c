"""Storage: atomic run outputs with their manifest, and the central store (DuckDB or PostgreSQL)."""
