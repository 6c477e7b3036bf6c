"""Incremental linkage: monthly deliveries linked against the stored persons, with persistent ids.

``state`` (what is known between runs, key lookups, reading ids), ``batch`` (one delivery against the
state: :func:`link_batch`), ``ids`` (persistent ids, merges, splits and their history), ``persist`` (the state
in the central store, and the delivery's side files).
"""

from pace_linkage.incremental.batch import link_batch
from pace_linkage.incremental.state import (
    RECORD_HASH,
    BatchResult,
    State,
    compare_partitions,
    empty_state,
    id_history,
    initial_state,
    record_hash,
    resolve,
    resolve_all,
)

__all__ = [
    "RECORD_HASH", "BatchResult", "State", "compare_partitions", "empty_state", "id_history", "initial_state",
    "link_batch", "record_hash", "resolve", "resolve_all",
]
