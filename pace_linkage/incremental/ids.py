"""Persistent ids: which id each group of a run's clustering holds, and the history rows that say why.

:func:`assign_ids` takes the clustered part of a run (:class:`ClusteredPart`: the groups, and the person each
record belonged to before the run) and gives every group an id:

* A person's records may end up in several groups (an updated record that no longer links, or a
  cannot-link decision): that is a **split**. (A person whose records were all updated keeps its claim
  through them: if they now link to another person, the two merge.) The part holding most of its records
  keeps the id (ties: the part with most records not updated in this run, then the part holding the
  smallest key); every other part is recorded as split off (event ``split``: old id, the id the part ends
  with, cause ``record_updated`` or ``cannot_link``).
* Each resulting group then holds the ids it keeps: none -> it founds a new id (the cluster rule: the id
  prefix, ``P`` persons or ``E`` employers, + 16 hex of SHA-256 of its smallest member key; if that id was ever issued, SHA-256 of key + run id, then a
  counter); one -> it keeps it; several -> a **merge**: the survivor is the id created in the earliest run,
  then the one with more records in the group, then the smallest id; the others become ``retired`` with
  ``survivor`` set and resolve to it (:func:`pace_linkage.incremental.state.resolve`). The ``merged`` event
  names both ids and the pairs that caused it (record keys of the at most 5 strongest edges between the
  retired person's records and the rest of the group, with their match weights; a clerical must-link shows
  ``"w": null``). An existing id therefore never changes meaning.
* An id left with no record (its records removed, or all moved elsewhere) gets status ``empty``.

The events of a run, in a fixed order (removals, merges, splits, creations, then record rows):
``record_removed`` (reason; ``person_left_empty`` when it was the person's last record);
``merged`` (the id: survivor, other_id: retired); ``split`` (the id: old id, other_id: the part's id);
``created``: one row per new id, naming its founding (smallest) record, ``other_id`` the id it split from;
``joined``: a new record, or a record split off, entering an id (not the founding record of a new id);
``record_updated``: every updated record, ``other_id`` its previous id when that changed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from pace_linkage.engine.cluster import KEY_SEP
from pace_linkage.incremental.state import (
    State,
    WorkingSet,
    compact_json,
    history_columns,
    id_columns,
)
from pace_linkage.schema import RECORD_ID, SOURCE

MERGE_PAIRS_SHOWN = 5
# the engine's conflicts frame (clustering, id, kind, count, resolution) names a component's id "pace_id",
# whatever the run's id column
CONFLICT_ID = "pace_id"
CONFLICT_COLUMNS = ["clustering", CONFLICT_ID, "kind", "count", "resolution"]


@dataclass
class ClusteredPart:
    """The part of the working set a run clusters, in local coordinates (index into ``pos``)."""

    pos: np.ndarray  # positions in the working set
    labels: np.ndarray  # group per local record, 0..G-1
    keys: np.ndarray  # record key per local record
    person: np.ndarray  # person code before the run (-1: new record)
    kept: np.ndarray  # unchanged record from the state
    updated: np.ndarray
    batch: np.ndarray
    edges: tuple[np.ndarray, np.ndarray, np.ndarray]  # local l, r, weight (NaN: clerical must-link)
    reclustered: np.ndarray  # person codes re-clustered from evidence (a cannot-link inside the person)


class Merge(NamedTuple):
    """One id retired into another because their records ended in one group."""

    retired: str
    survivor: str
    group: int
    person: int  # code of the retired person


@dataclass
class IdAssignment:
    """How a run's groups map to persistent ids."""

    parts: pd.DataFrame  # per (person, group): records, unchanged, updated, first (key rank), keeper
    id_of: np.ndarray  # person code -> the id it held before the run
    label_id: np.ndarray  # group -> the id it holds after the run
    first_local: np.ndarray  # group -> local index of its smallest record
    new_ids: dict[int, str]  # group -> id founded this run
    merges: list[Merge]
    retired_to: dict[str, str]  # retired id -> survivor
    final: np.ndarray  # per working-set record: its id after the run
    emptied: set[str]  # ids left without a record

    @property
    def splits(self) -> int:
        """Number of parts split off a person."""
        return int((~self.parts["keeper"]).sum())


@dataclass(frozen=True)
class _Run:
    """What id bookkeeping reads of a run: the state before it, its working set and clustered part, its run
    id, the id column and the prefix of the ids it founds."""

    state: State
    work: WorkingSet
    part: ClusteredPart
    run_id: str
    id_col: str
    id_prefix: str


def cluster_id(key: str, prefix: str = "P") -> str:
    """The cluster rule's id of a group whose smallest member key is ``key``."""
    return prefix + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _fresh_id(key: str, run_id: str, taken: set, prefix: str) -> str:
    """The cluster rule's id for a group's smallest key, or, if ever issued, a run-specific one."""
    candidate = cluster_id(key, prefix)
    k = 0
    while candidate in taken:
        suffix = run_id if k == 0 else f"{run_id}{KEY_SEP}{k}"
        candidate = cluster_id(key + KEY_SEP + suffix, prefix)
        k += 1
    taken.add(candidate)
    return candidate


def _run_rank(state: State) -> dict:
    """Run id -> order of first appearance in the history (the runs' chronology)."""
    h = state.history
    if h.empty:
        return {}
    first = h.groupby("run_id", sort=False)["seq"].min().sort_values(kind="stable")
    return {r: i for i, r in enumerate(first.index)}


# --------------------------------------------------------------------------------------------------
# Groups -> ids
# --------------------------------------------------------------------------------------------------
def assign_ids(state: State, work: WorkingSet, part: ClusteredPart, run_id: str, id_col: str,
               id_prefix: str = "P") -> tuple[State, pd.DataFrame, IdAssignment]:
    """Map the groups to persistent ids (module docstring); returns (next state, this run's events, the
    assignment). Ids are in column ``id_col`` (the config's ``id_column``); new ones start with
    ``id_prefix``, as the clustering's do. The next state keeps ``state.clerical``: the caller sets this
    run's decisions."""
    run = _Run(state, work, part, run_id, id_col, id_prefix)
    a = _group_ids(run)
    events = _events(run, a)
    ids = _next_ids(run, a)
    rec = work.records
    assignments = pd.DataFrame({SOURCE: rec[SOURCE].to_numpy(dtype=object),
                                RECORD_ID: rec[RECORD_ID].to_numpy(dtype=object), id_col: a.final})
    history = pd.concat([state.history, events], ignore_index=True) if len(state.history) else events
    new_state = State(records=rec, assignments=assignments, ids=ids, clerical=state.clerical, history=history)
    return new_state, events, a


def _parts(t: ClusteredPart) -> tuple[pd.DataFrame, np.ndarray]:
    """Per (person, group): records, unchanged records, smallest key rank; and each person's keeper part
    (most records, then most unchanged records, then smallest key). Also each local record's key rank."""
    rank = np.empty(len(t.keys), dtype=np.int64)
    rank[np.argsort(t.keys, kind="stable")] = np.arange(len(t.keys))
    has = t.person >= 0
    parts = pd.DataFrame({"person": t.person[has], "label": t.labels[has], "unchanged": t.kept[has],
                          "updated": t.updated[has], "rank": rank[has]})
    parts = parts.groupby(["person", "label"], sort=True).agg(
        records=("rank", "size"), unchanged=("unchanged", "sum"), updated=("updated", "sum"), first=("rank", "min"),
    ).reset_index()
    parts = parts.sort_values(["person", "records", "unchanged", "first"], ascending=[True, False, False, True],
                              kind="stable").reset_index(drop=True)
    keeper = ~parts["person"].duplicated()
    parts["keeper"] = keeper.to_numpy()
    return parts, rank


def _group_ids(run: _Run) -> IdAssignment:
    """Each group's id: the one id it keeps, a new one, or the survivor of a merge; and each record's."""
    t, work = run.part, run.work
    own_code = work.own_code
    n_groups = int(t.labels.max()) + 1 if len(t.labels) else 0
    parts, rank = _parts(t)
    id_of = np.full(int(own_code.max()) + 1 if len(own_code) else 0, None, dtype=object)
    has_id = own_code >= 0
    id_of[own_code[has_id]] = work.own[has_id]
    keepers = parts[parts["keeper"]]
    claims = np.bincount(keepers["label"].to_numpy(np.int64), minlength=n_groups)
    order = np.lexsort((rank, t.labels))
    first_local = order[np.r_[True, t.labels[order][1:] != t.labels[order][:-1]]] if len(order) else order

    label_id = np.full(n_groups, None, dtype=object)
    one = keepers[claims[keepers["label"].to_numpy(np.int64)] == 1]
    label_id[one["label"].to_numpy(np.int64)] = id_of[one["person"].to_numpy(np.int64)]
    new_ids = _new_ids(run, np.flatnonzero(claims == 0), first_local)
    label_id[list(new_ids)] = list(new_ids.values())
    merges = _merges(run, keepers[claims[keepers["label"].to_numpy(np.int64)] > 1], id_of, label_id)

    final = np.asarray(work.own, dtype=object).copy()
    if len(t.pos):
        final[t.pos] = label_id[t.labels]
    retired_to = {m.retired: m.survivor for m in merges}
    # ids that may have lost their last record: those of removed records and of the touched persons
    cands = (set(work.removed[run.id_col]) | set(pd.Series(work.own[t.pos], dtype=object).dropna())) - set(retired_to)
    final_s = pd.Series(final, dtype=object)
    emptied = cands - set(final_s[final_s.isin(cands)])
    return IdAssignment(parts=parts, id_of=id_of, label_id=label_id, first_local=first_local, new_ids=new_ids,
                        merges=merges, retired_to=retired_to, final=final, emptied=emptied)


def _merges(run: _Run, multi: pd.DataFrame, id_of: np.ndarray, label_id: np.ndarray) -> list[Merge]:
    """For the groups claimed by several persons (``multi``: their keeper parts): the survivor (created in
    the earliest run, then more records in the group, then the smallest id) becomes the group's id in
    ``label_id``; the others are retired into it."""
    state, id_col = run.state, run.id_col
    merges: list[Merge] = []
    run_rank, created_run = {}, {}
    if len(multi):  # merges: the runs' order and each candidate's creating run
        run_rank = _run_rank(state)
        made = state.ids[state.ids[id_col].isin(set(id_of[multi["person"].to_numpy(np.int64)]))]
        created_run = dict(zip(made[id_col], made["created_run"], strict=True))
    for g, held in multi.groupby("label", sort=True):
        codes = held["person"].to_numpy(np.int64)
        cands = sorted(zip(id_of[codes], held["records"], codes, strict=True),
                       key=lambda c: (run_rank.get(created_run.get(c[0]), len(run_rank)), -c[1], c[0]))
        label_id[g] = cands[0][0]
        merges += [Merge(c[0], cands[0][0], int(g), int(c[2])) for c in cands[1:]]
    return merges


def _new_ids(run: _Run, groups: np.ndarray, first_local: np.ndarray) -> dict:
    """Group -> new id for the groups holding no existing id: the cluster rule's id of the smallest key,
    or a run-specific one when that id was ever issued (checked in bulk; collisions are rare)."""
    t, state = run.part, run.state
    groups = sorted(groups.tolist(), key=lambda g: t.keys[first_local[g]])
    keys = [t.keys[first_local[g]] for g in groups]
    ids = [cluster_id(k, run.id_prefix) for k in keys]
    taken = set(state.ids.loc[state.ids[run.id_col].isin(ids), run.id_col])
    out = {}
    for g, k, candidate in zip(groups, keys, ids, strict=True):
        if candidate in taken:
            candidate = _fresh_id(k, run.run_id, taken, run.id_prefix)
        taken.add(candidate)
        out[int(g)] = candidate
    return out


def _next_ids(run: _Run, a: IdAssignment) -> pd.DataFrame:
    """The ids table after the run: new ids, retired ids, emptied ids, ``changed_run`` of every id whose
    records or status changed."""
    t, work, run_id, id_col = run.part, run.work, run.run_id, run.id_col
    ids = run.state.ids[id_columns(id_col)].copy()
    if a.new_ids:
        fresh = pd.DataFrame({id_col: sorted(a.new_ids.values()), "status": "active", "survivor": None,
                              "created_run": run_id, "changed_run": run_id})
        ids = pd.concat([ids, fresh], ignore_index=True) if len(ids) else fresh
    retired_to = a.retired_to
    o = pd.Series(work.own[t.pos], dtype=object)
    f = pd.Series(a.final[t.pos], dtype=object)
    moved = (o.map(lambda x: retired_to.get(x, x)) != f).to_numpy() & o.notna().to_numpy()
    split = a.parts[~a.parts["keeper"]]
    changed = set(f[t.batch | moved]) | set(o[moved | t.updated].dropna()) | set(work.removed[id_col]) \
        | set(retired_to) | set(retired_to.values()) | set(a.id_of[split["person"].to_numpy(np.int64)]) \
        | set(a.label_id[split["label"].to_numpy(np.int64)])
    pid = ids[id_col]
    is_retired = pid.isin(retired_to).to_numpy()
    ids.loc[is_retired, "status"] = "retired"
    ids.loc[is_retired, "survivor"] = pid[is_retired].map(retired_to)
    ids.loc[pid.isin(a.emptied).to_numpy(), "status"] = "empty"
    ids.loc[pid.isin(changed).to_numpy(), "changed_run"] = run_id
    return ids.reset_index(drop=True)


def conflicts_by_id(conflicts: pd.DataFrame, t: ClusteredPart, final: np.ndarray,
                    id_prefix: str = "P") -> pd.DataFrame:
    """Conflict rows under the persistent id now held by the smallest record of the conflicting component
    (:func:`pace_linkage.engine.cluster.cluster` names the component by ``id_prefix`` and the hash of that
    record's key)."""
    if conflicts.empty:
        return conflicts.reset_index(drop=True)
    by_hash = {cluster_id(k, id_prefix): i for i, k in enumerate(t.keys)}
    out = conflicts.copy()
    out[CONFLICT_ID] = [final[t.pos[by_hash[h]]] for h in conflicts[CONFLICT_ID]]
    return out.sort_values([CONFLICT_ID, "kind"], kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------------------
def _events(run: _Run, a: IdAssignment) -> pd.DataFrame:
    """This run's history rows, in a fixed order: removals, merges, splits, creations, then record rows."""
    t, rec = run.part, run.work.records
    src = rec[SOURCE].to_numpy(dtype=object)[t.pos]
    rid = rec[RECORD_ID].to_numpy(dtype=object)[t.pos]
    split_rows, split_from = _split_rows(run, a)
    created, founders = _created_rows(run, a, split_from, src, rid)
    rows = _removal_rows(run, a) + _merge_rows(run, a) + split_rows + created
    record_rows = _record_rows(run, a, founders, src, rid)
    id_rows = pd.DataFrame(rows, columns=["event", run.id_col, "other_id", SOURCE, RECORD_ID, "detail"])
    events = pd.concat([id_rows, record_rows], ignore_index=True) if len(id_rows) else \
        record_rows.reset_index(drop=True)
    history = run.state.history
    start = int(history["seq"].max()) + 1 if len(history) else 0
    events.insert(0, "seq", np.arange(start, start + len(events), dtype=np.int64))
    events.insert(0, "run_id", run.run_id)
    return events[history_columns(run.id_col)].reset_index(drop=True)


def _removal_rows(run: _Run, a: IdAssignment) -> list[dict]:
    """``record_removed`` per removed record; the last one of an id left empty says so."""
    rows: list[dict] = []
    removed, id_col = run.work.removed, run.id_col
    last = ~removed.duplicated(id_col, keep="last").to_numpy() if len(removed) else np.zeros(0, bool)
    for src, rid, pid, reason, is_last in zip(removed[SOURCE], removed[RECORD_ID], removed[id_col],
                                              removed["reason"], last, strict=True):
        detail = {"reason": reason}
        if is_last and pid in a.emptied:
            detail["person_left_empty"] = True
        rows.append({"event": "record_removed", id_col: pid, "other_id": None, SOURCE: src, RECORD_ID: rid,
                     "detail": compact_json(detail)})
    return rows


def _merge_rows(run: _Run, a: IdAssignment) -> list[dict]:
    """``merged`` per retired id, by (survivor, retired), with the edges that caused it."""
    if not a.merges:
        return []
    t = run.part
    l_, r_, _ = t.edges
    merged_groups = np.unique([m.group for m in a.merges])
    inside = np.flatnonzero((t.labels[l_] == t.labels[r_]) & np.isin(t.labels[l_], merged_groups))
    inside = inside[np.argsort(t.labels[l_[inside]], kind="stable")]
    cuts = np.flatnonzero(np.diff(t.labels[l_[inside]])) + 1
    by_label = {int(t.labels[l_[chunk[0]]]): chunk for chunk in np.split(inside, cuts) if len(chunk)}
    rows: list[dict] = []
    for m in sorted(a.merges, key=lambda x: (x.survivor, x.retired)):
        members = (t.person == m.person) & (t.labels == m.group)
        rows.append({"event": "merged", run.id_col: m.survivor, "other_id": m.retired, SOURCE: None, RECORD_ID: None,
                     "detail": _merge_detail(t, m.group, members, by_label)})
    return rows


def _merge_detail(t: ClusteredPart, g: int, members: np.ndarray, by_label: dict) -> str:
    """The strongest edges between a retired person's records (``members``, local mask) and the rest of
    its new group ``g``: record keys and match weights (null: a clerical must-link), at most 5."""
    a, b, w = t.edges
    idx = by_label.get(g, np.empty(0, np.int64))
    idx = idx[members[a[idx]] ^ members[b[idx]]]
    clerical = np.isnan(w[idx])
    idx = idx[np.lexsort((t.keys[b[idx]], t.keys[a[idx]], -np.where(clerical, np.inf, w[idx])))]
    rows = [{"l": t.keys[a[i]].split(KEY_SEP, 1), "r": t.keys[b[i]].split(KEY_SEP, 1),
             "w": None if np.isnan(w[i]) else round(float(w[i]), 3)} for i in idx[:MERGE_PAIRS_SHOWN]]
    return compact_json({"pairs": rows, "records": int(members.sum())})


def _split_rows(run: _Run, a: IdAssignment) -> tuple[list[dict], dict[str, str]]:
    """``split`` per part split off a person (by person, then smallest key), and new id -> the id it
    split from."""
    rows: list[dict] = []
    split_from: dict[str, str] = {}
    for sp in a.parts[~a.parts["keeper"]].sort_values(["person", "first"], kind="stable").itertuples():
        old, new = a.id_of[sp.person], a.label_id[sp.label]
        cause = "cannot_link" if sp.person in run.part.reclustered else "record_updated" if sp.updated \
            else "clerical"
        rows.append({"event": "split", run.id_col: old, "other_id": new, SOURCE: None, RECORD_ID: None,
                     "detail": compact_json({"cause": cause, "records": int(sp.records)})})
        split_from.setdefault(new, old)
    return rows, split_from


def _created_rows(run: _Run, a: IdAssignment, split_from: dict[str, str], src: np.ndarray,
                  rid: np.ndarray) -> tuple[list[dict], np.ndarray]:
    """``created`` per new id (by id), naming its founding record; and the founders as a local mask."""
    t = run.part
    rows: list[dict] = []
    founders = np.zeros(len(t.pos), dtype=bool)
    sizes = np.bincount(t.labels) if len(t.labels) else np.zeros(0, np.int64)
    for g, pid in sorted(a.new_ids.items(), key=lambda x: x[1]):
        f = int(a.first_local[g])
        founders[f] = True
        rows.append({"event": "created", run.id_col: pid, "other_id": split_from.get(pid), SOURCE: src[f],
                     RECORD_ID: rid[f], "detail": compact_json({
                         "records": int(sizes[g]), "cause": "split" if pid in split_from else "new_records"})})
    return rows, founders


def _record_rows(run: _Run, a: IdAssignment, founders: np.ndarray, src: np.ndarray, rid: np.ndarray) -> pd.DataFrame:
    """Record rows, vectorised: ``record_updated`` per updated record, ``joined`` per new record (not a
    founder) and per unchanged record moved by a split."""
    t = run.part
    retired_to = a.retired_to
    o = pd.Series(run.work.own[t.pos], dtype=object)
    f = a.final[t.pos]
    o_now = o.map(lambda x: retired_to.get(x, x)).to_numpy(dtype=object)
    differs = o.notna().to_numpy() & (o_now != f)
    moved = t.kept & differs
    return pd.DataFrame({
        "event": np.where(t.updated, "record_updated", "joined"), run.id_col: f,
        "other_id": np.where(differs, o.to_numpy(dtype=object), None), SOURCE: src, RECORD_ID: rid, "detail": "{}",
    })[t.updated | ((t.batch | moved) & ~founders)]
