"""The analyst's workbench: a local web application over a finished run (threshold, pairs, clusters, labels)."""
