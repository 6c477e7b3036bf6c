"""Incremental linkage: monthly deliveries linked against the stored persons, with persistent ids."""
