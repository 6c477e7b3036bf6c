"""pace-linkage: record linkage for Scotland's PACE partnership.

The public surface, for linking from Python::

    Linker, LinkResult   the engine: block -> compare -> train -> score -> cluster (pace_linkage.engine.linker)
    LinkageSettings      blocking rules, comparisons, training, thresholds (pace_linkage.engine.settings)
    FSModel              a trained Fellegi-Sunter model, saved and reloaded as JSON (pace_linkage.engine.model)
    load_config          read and check config/*.yaml (pace_linkage.config)
    read_sources         ingest and normalise every partner extract of a config (pace_linkage.pipeline)

Each name is imported on first use, so ``import pace_linkage`` (and the ``pace-linkage`` command's start) stays
cheap. The packages follow the pipeline: config, ingest, normalise, engine, evaluate, report, store, study,
incremental. Prefect orchestration lives in the top-level ``flows`` package; nothing here imports Prefect.
"""

from __future__ import annotations

import importlib

from pace_linkage.schema import VERSION as __version__

_PUBLIC = {
    "Linker": "pace_linkage.engine.linker",
    "LinkResult": "pace_linkage.engine.linker",
    "LinkageSettings": "pace_linkage.engine.settings",
    "FSModel": "pace_linkage.engine.model",
    "load_config": "pace_linkage.config",
    "read_sources": "pace_linkage.pipeline",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'pace_linkage' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # imported once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
