"""pace-linkage: record linkage for Scotland's PACE partnership.

The library is a set of pure functions over pandas DataFrames, one module per pipeline stage:
extract -> validate -> normalise -> blocking -> compare -> model/score -> cluster -> evaluate -> report.
Prefect orchestration lives in the top-level ``flows`` package; nothing here imports Prefect.
"""

__version__ = "0.1.0"
