"""The linkage engine: blocking, comparison levels, the Fellegi-Sunter model and its training, scoring,
clustering and partitioned execution. It imports only config, schema and errors."""
