"""Ingest: read each partner extract (every cell as text), validate it and quarantine bad rows with a reason."""
