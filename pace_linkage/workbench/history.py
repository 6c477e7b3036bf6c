"""A cluster's history across incremental runs: pure functions over the store's ``id_history`` and ``state_ids``.

The workbench opens a finished run; with ``--store`` it also shows, for a cluster, what the store's incremental
runs did to the persistent ids of its people (:mod:`pace_linkage.incremental.ids` describes the events):

* the **ids** of the cluster are its pace ids in the run (those the store ever issued) and every id one of its
  records held in the store (an event naming the record), followed forward and backward through merges
  (``merged``: survivor and retired id) and splits (``split``, and ``created`` naming the id it split from), at
  any depth;
* the **events** are every ``id_history`` row naming one of those ids (as the id or ``other_id``) or one of the
  cluster's records, in the order they happened (``seq`` counts on across runs, so it orders runs too);
* each id's **status** now, and the id it stands for now (:func:`pace_linkage.incremental.state.resolve`,
  which follows a retired id's survivors).

Nothing here reads field values: the history holds keys, ids, counts and causes only.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from pace_linkage.errors import InputError
from pace_linkage.incremental.state import resolve
from pace_linkage.schema import RECORD_ID, SOURCE

# id_history's columns besides the id column (whose name is the config's id_column)
BASE_COLUMNS = ("run_id", "seq", "event", "other_id", SOURCE, RECORD_ID, "detail")
LINKING_EVENTS = ("merged", "split", "created")  # events whose other_id is another person's id


def id_column(history: pd.DataFrame) -> str:
    """The id column of the store's ``id_history`` (the one column not in :data:`BASE_COLUMNS`)."""
    rest = [c for c in history.columns if c not in BASE_COLUMNS]
    if len(rest) != 1 or any(c not in history.columns for c in BASE_COLUMNS):
        raise InputError("store: table id_history does not have the columns an incremental run writes")
    return rest[0]


def record_events(history: pd.DataFrame, records: pd.DataFrame) -> np.ndarray:
    """Mask of the history rows naming one of ``records`` (source, record_id)."""
    near = history[RECORD_ID].isin(records[RECORD_ID]).to_numpy()  # a hash lookup first, then the exact keys
    hit = np.zeros(len(history), dtype=bool)
    if near.any():
        keys = pd.MultiIndex.from_frame(records[[SOURCE, RECORD_ID]].astype(str))
        cand = pd.MultiIndex.from_frame(history.loc[near, [SOURCE, RECORD_ID]].astype(str))
        hit[np.flatnonzero(near)] = cand.isin(keys)
    return hit


def family(history: pd.DataFrame, start: Iterable[str], id_col: str) -> set[str]:
    """``start`` and every id joined to one of them through merges and splits, either way, at any depth."""
    linked = history[history["event"].isin(LINKING_EVENTS) & history["other_id"].notna()]
    a, b = linked[id_col].to_numpy(dtype=object), linked["other_id"].to_numpy(dtype=object)
    found = {str(i) for i in start}
    while True:
        members = np.asarray(sorted(found), dtype=object)
        more = (set(b[np.isin(a, members)]) | set(a[np.isin(b, members)])) - found
        if not more:
            return found
        found |= {str(i) for i in more}


def _survivor_closure(ids: pd.DataFrame, chosen: set[str], id_col: str) -> pd.DataFrame:
    """The rows of ``ids`` for ``chosen`` and every survivor they lead to (what :func:`resolve` reads)."""
    rows = ids[ids[id_col].isin(chosen)]
    while True:
        more = set(rows.loc[rows["status"] == "retired", "survivor"].dropna()) - set(rows[id_col])
        added = ids[ids[id_col].isin(more)]
        if added.empty:  # none left (a survivor never issued: resolve says the chain is broken)
            return rows
        rows = pd.concat([rows, added], ignore_index=True)


def cluster_history(history: pd.DataFrame, ids: pd.DataFrame, pace_ids: Iterable[str],
                    records: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The history of a cluster (module docstring): ``events`` (the ``id_history`` rows, in order) and ``ids``
    (each id of the cluster's family: status, survivor, the runs that made and last changed it, and ``now``:
    the id it stands for today). ``history`` and ``ids``: the store's ``id_history`` and ``state_ids``;
    ``pace_ids``: the cluster's ids in the run; ``records``: its records (source, record_id)."""
    if history.empty:
        return {"events": history, "ids": pd.DataFrame(columns=["id", "status", "now"])}
    id_col = id_column(history)
    named = record_events(history, records)
    issued = set(ids[id_col])
    start = {p for p in pace_ids if p in issued} | set(history.loc[named, id_col].dropna().astype(str))
    found = family(history, start, id_col)
    chosen = np.asarray(sorted(found), dtype=object)
    sel = history[id_col].isin(chosen).to_numpy() | history["other_id"].isin(chosen).to_numpy() | named
    events = history[sel].sort_values(["seq", "run_id"], kind="stable").reset_index(drop=True)
    known = _survivor_closure(ids, found, id_col)
    table = known[known[id_col].isin(chosen)].sort_values(id_col, kind="stable")
    table = table.assign(now=[resolve(known, str(i), id_col) for i in table[id_col]])
    return {"events": events, "ids": table.rename(columns={id_col: "id"}).reset_index(drop=True)}


__all__ = ["BASE_COLUMNS", "LINKING_EVENTS", "cluster_history", "family", "id_column", "record_events"]
