"""Incremental linkage: link a new batch of records against the people already known, keeping pace ids.

The system's memory is a :class:`State` (five frames, stored by the caller): the live normalised records
(with a ``record_hash``), each record's ``pace_id`` (``assignments``), every id ever issued (``ids``), the
clerical decisions (``clerical``) and an append-only event log (``history``). :func:`link_batch` takes a
state and a batch and returns the next state; everything is a pure function over frames.

Rules of :func:`link_batch`:

* **Classify** each batch record against the state by (source, record_id): *new* (unknown key), *updated*
  (known key, different ``record_hash``: the new version replaces the old one) or *unchanged* (same hash:
  ignored). A deletion (``deletions``: source, record_id, reason such as ``deleted`` or
  ``consent_withdrawn``) removes the record from its person; a record both in the batch and deleted is
  deleted. The removed record's values are dropped from the state; the history keeps only its key, its
  id, the run id and the reason (``record_removed``). A person left with no record gets status ``empty``.
  A deletion does not split the person it leaves (the id's remaining records stay together).
* **Candidate pairs** are blocked over the live records (state minus removed records minus old versions of
  updated ones, plus the batch) with the batch marked *new*: new x new and new x existing pairs only, never
  existing x existing (:func:`pace_linkage.engine.blocking.block` with ``new=``). They are compared and scored
  with ``model``; term frequencies come from all live records, as in a full run. With no model, or with
  ``refresh_model``, a model is trained by EM first (``cfg.linkage.em.method``; u from random pairs of the
  live records, m from this batch's candidate pairs). Supervised training is not done here.
* **Clustering** takes the part of the graph touched by the batch: the batch records, the records they link
  to (match probability >= threshold), the records named by this run's clerical decisions, and, whole,
  every existing person holding one of those records (plus whatever stored must-link decisions pull in).
  Existing persons are fixed groups: their unchanged records are joined by must-link edges (so the
  constrained merge keeps them together); updated records are free and placed by their new evidence.
  Stored and new clerical decisions are honoured (:func:`pace_linkage.engine.cluster.cluster`, ``must_link`` /
  ``cannot_link``; person edges come before clerical must-links, so a contradicting must-link decision is
  the one refused and reported as ``clerical_conflict``). A person with a cannot-link decision between two
  of its own records is re-clustered from evidence instead: every pair of its records is re-scored
  (``rescored_pairs``; the only existing x existing comparisons an incremental run makes). The rest of the
  state is untouched: comparing, clustering and id bookkeeping grow with the batch; a few linear passes
  over the state remain (merging the batch into the sorted records, probing blocking keys, term
  frequencies).
* **Ids.** A person's records may end up in several groups (an updated record that no longer links, or a
  cannot-link decision): that is a **split**. (A person whose records were all updated keeps its claim
  through them: if they now link to another person, the two merge.) The part holding most of its records
  keeps the id (ties: the
  part with most records not updated in this run, then the part holding the smallest key); every other
  part is recorded as split off (event ``split``: old id, the id the part ends with, cause
  ``record_updated`` or ``cannot_link``). Each resulting group then holds the ids it keeps:
  none -> it founds a new id (the cluster rule: ``P`` + 16 hex of SHA-256 of its smallest member key; if
  that id was ever issued, SHA-256 of key + run id, then a counter); one -> it keeps it; several -> a
  **merge**: the survivor is the id created in the earliest run, then the one with more records in the
  group, then the smallest id; the others become ``retired`` with ``survivor`` set and resolve to it
  (:func:`resolve`). The ``merged`` event names both ids and the pairs that caused it (record keys of the
  at most 5 strongest edges between the retired person's records and the rest of the group, with their
  match weights; a clerical must-link shows ``"w": null``). An existing id therefore never changes meaning.
* **History** columns: run_id, seq (one counter across runs), event, pace_id, other_id, source, record_id,
  detail (compact JSON: counts, causes, reasons, record keys and weights; never a field value).
  ``created``: one row per new id, naming its founding (smallest) record, ``other_id`` the id it split from;
  ``joined``: a new record, or a record split off, entering an id (not the founding record of a new id);
  ``record_updated``: every updated record, ``other_id`` its previous id when that changed;
  ``merged`` (pace_id survivor, other_id retired); ``split`` (pace_id old id, other_id the part's id);
  ``record_removed`` (reason; ``person_left_empty`` when it was the person's last record).
* **Clerical decisions** (``clerical``: source_l, record_id_l, source_r, record_id_r, decision
  ``must_link`` | ``cannot_link``) are stored with their run id and honoured in every later run. A later
  decision on the same pair replaces the earlier one (counted as ``clerical_replaced``). A decision naming
  a record not (or no longer) live is kept but inactive until the record arrives.

Named thresholds are not tracked incrementally: persistent ids exist at the chosen threshold only.

Linking a data set in batches differs from linking it in one go only where (a) the model differs (trained
on an earlier batch, or reused), (b) term frequencies differ (pairs are scored with the frequencies of the
records live at that run, and old pairs are not re-scored later), or (c) conflict resolution differs:
existing persons are fixed, so a later, stronger link cannot undo an earlier link as a one-go constrained
merge might. :func:`compare_partitions` lists the records concerned.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig
from pace_linkage.engine.blocking import BlockingResult, block, within_group_pairs
from pace_linkage.engine.cluster import KEY_SEP, cluster
from pace_linkage.engine.compare import ColumnCache, compare
from pace_linkage.engine.model import FSModel, check_compatible
from pace_linkage.engine.score import score
from pace_linkage.engine.training import train
from pace_linkage.errors import LinkageError
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, MATCH_WEIGHT, RECORD_ID, RIGHT, RULE, SOURCE

PACE_ID = "pace_id"
RECORD_HASH = "record_hash"
ASSIGNMENT_COLUMNS = [SOURCE, RECORD_ID, PACE_ID]
ID_COLUMNS = [PACE_ID, "status", "survivor", "created_run", "changed_run"]
CLERICAL_COLUMNS = ["source_l", "record_id_l", "source_r", "record_id_r", "decision", "run_id"]
HISTORY_COLUMNS = ["run_id", "seq", "event", PACE_ID, "other_id", SOURCE, RECORD_ID, "detail"]
REMOVED_COLUMNS = [SOURCE, RECORD_ID, PACE_ID, "reason", "run_id"]
PAIR_KEY_COLUMNS = ["source_l", "record_id_l", "source_r", "record_id_r"]
EVENTS = ("created", "joined", "merged", "split", "record_updated", "record_removed")
STATUSES = ("active", "retired", "empty")
DECISIONS = ("must_link", "cannot_link")
MERGE_PAIRS_SHOWN = 5
_REASON = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


# --------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------
@dataclass
class State:
    """What the system knows between runs (every frame sorted by its keys, RangeIndex).

    ``records``: live normalised records (every column the linkage reads, plus ``record_hash``), sorted by
    (source, record_id); ``assignments``: (source, record_id, pace_id), one row per record, same order;
    ``ids``: (pace_id, status active|retired|empty, survivor, created_run, changed_run), one row per id ever
    issued (in the order issued: by run, then by id); ``clerical``: (source_l, record_id_l, source_r, record_id_r, decision, run_id);
    ``history``: the event log (:data:`HISTORY_COLUMNS`)."""

    records: pd.DataFrame
    assignments: pd.DataFrame
    ids: pd.DataFrame
    clerical: pd.DataFrame
    history: pd.DataFrame

    def persons(self) -> int:
        """Number of active ids (persons holding at least one record)."""
        return int((self.ids["status"] == "active").sum())


@dataclass
class BatchResult:
    """The outcome of :func:`link_batch`.

    ``pairs``: this run's scored candidate pairs by record key (source_l, record_id_l, source_r,
    record_id_r, blocking_rule, gamma_<comparison>..., match_weight, match_probability), the layout of the
    store's ``pairs`` table; ``removed``: the records removed this run (keys, id, reason, run id: no values);
    ``blocking`` / ``gamma`` / ``scored``: the positional intermediate results over ``state.records``."""

    state: State
    events: pd.DataFrame
    pairs: pd.DataFrame
    model: FSModel | None
    model_trained: bool
    summary: dict
    timings: dict
    conflicts: pd.DataFrame
    removed: pd.DataFrame
    blocking: BlockingResult | None = None
    gamma: pd.DataFrame | None = None
    scored: pd.DataFrame | None = None
    extra: dict = field(default_factory=dict)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "seq" else object) for c in columns})


def empty_state() -> State:
    """The state before anything was linked."""
    return State(
        records=pd.DataFrame({SOURCE: pd.Series(dtype=object), RECORD_ID: pd.Series(dtype=object),
                              RECORD_HASH: pd.Series(dtype=object)}),
        assignments=_empty(ASSIGNMENT_COLUMNS), ids=_empty(ID_COLUMNS), clerical=_empty(CLERICAL_COLUMNS),
        history=_empty(HISTORY_COLUMNS),
    )


def linkage_columns(cfg: PaceConfig) -> list[str]:
    """Every record column the linkage reads (keys, blocking keys, comparison and conflict columns), sorted."""
    lk = cfg.linkage
    cols = {SOURCE, RECORD_ID, *lk.clustering.conflict_fields}
    for rule in lk.blocking:
        cols |= set(rule.on)
    for comp in lk.comparisons:
        cols.add(comp.column)
        cols |= set(comp.null_columns or [])
        for level in comp.levels:
            cols |= {c for c in (level.column, level.other) if c}
    return sorted(cols)


def record_hash(records: pd.DataFrame, fields: Iterable[str]) -> pd.Series:
    """SHA-256 (hex) per record of its canonical field values: the ``fields`` present in ``records``, in
    sorted name order, each as ``name=value`` (dates as ``YYYY-MM-DD``, null as a NUL byte), joined by
    ``\\x1e``. Independent of row and column order; keys, ``line`` and derived columns are not hashed."""
    names = sorted({f for f in fields if f in records.columns})
    text = pd.Series("", index=records.index, dtype=object)
    for name in names:
        col = records[name]
        if pd.api.types.is_datetime64_any_dtype(col):
            col = col.dt.strftime("%Y-%m-%d")
        values = col.astype("string").fillna("\x00").astype(object)
        text = text + (name + "=") + values + "\x1e"
    return pd.Series([hashlib.sha256(t.encode("utf-8")).hexdigest() for t in text], index=records.index,
                     dtype=object, name=RECORD_HASH)


def _keys(frame: pd.DataFrame, source: str = SOURCE, record_id: str = RECORD_ID) -> np.ndarray:
    return (frame[source].astype(str) + KEY_SEP + frame[record_id].astype(str)).to_numpy(dtype=object)


def _key_arrays(frame: pd.DataFrame, source: str = SOURCE, record_id: str = RECORD_ID) -> tuple[np.ndarray, np.ndarray]:
    return frame[source].to_numpy(dtype=object), frame[record_id].to_numpy(dtype=object)


def _is_sorted(src: np.ndarray, rid: np.ndarray) -> bool:
    """Whether keys are strictly increasing in (source, record_id) order (so also unique)."""
    if len(src) < 2:
        return True
    s0, s1, r0, r1 = src[:-1], src[1:], rid[:-1], rid[1:]
    return bool(np.all((s0 < s1) | ((s0 == s1) & (r0 < r1))))


def _search(src: np.ndarray, rid: np.ndarray, q_src: np.ndarray, q_rid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For query keys against keys sorted by (source, record_id): (insertion position, found). Binary
    search inside each source's slice: a batch's few sources, never a pass over the whole state."""
    ins = np.zeros(len(q_src), dtype=np.int64)
    found = np.zeros(len(q_src), dtype=bool)
    if not len(q_src):
        return ins, found
    q_src = np.asarray(q_src, dtype=object)
    q_rid = np.asarray(q_rid, dtype=object)
    for source in pd.unique(q_src):
        sel = np.flatnonzero(q_src == source)
        lo = int(np.searchsorted(src, source, side="left")) if len(src) else 0
        hi = int(np.searchsorted(src, source, side="right")) if len(src) else 0
        part = rid[lo:hi]
        i = np.searchsorted(part, q_rid[sel]) if len(part) else np.zeros(len(sel), np.int64)
        hit = i < len(part)
        hit[hit] = part[i[hit]] == q_rid[sel][hit]
        ins[sel] = lo + i
        found[sel] = hit
    return ins, found


def _lookup(src: np.ndarray, rid: np.ndarray, q_src: np.ndarray, q_rid: np.ndarray) -> np.ndarray:
    """Position of each query key among sorted keys, -1 when absent."""
    ins, found = _search(src, rid, q_src, q_rid)
    return np.where(found, ins, -1)


def _rows(frame: pd.DataFrame, positions: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """Some rows and columns of a (large) frame in one take, with a fresh RangeIndex."""
    return pd.DataFrame({c: frame[c].take(positions).reset_index(drop=True) for c in dict.fromkeys(columns)})


def _sorted_by_key(frame: pd.DataFrame) -> pd.DataFrame:
    order = np.lexsort((frame[RECORD_ID].to_numpy(dtype=str), frame[SOURCE].to_numpy(dtype=str)))
    return frame.iloc[order].reset_index(drop=True)


def _json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def _is_null(values) -> np.ndarray:
    return pd.isna(pd.Series(values, dtype=object)).to_numpy()


# --------------------------------------------------------------------------------------------------
# Ids
# --------------------------------------------------------------------------------------------------
def resolve(ids: pd.DataFrame, pace_id: str) -> str:
    """The id a ``pace_id`` stands for now: follow ``survivor`` while the id is retired."""
    survivor = dict(zip(ids[PACE_ID], ids["survivor"], strict=True))
    status = dict(zip(ids[PACE_ID], ids["status"], strict=True))
    if pace_id not in status:
        raise LinkageError(f"resolve: pace_id {pace_id} was never issued")
    seen = {pace_id}
    while status.get(pace_id) == "retired":
        pace_id = survivor[pace_id]
        if pace_id in seen or pace_id not in status:
            raise LinkageError("resolve: the survivor chain of a retired id is broken (cycle or unknown id)")
        seen.add(pace_id)
    return pace_id


def resolve_all(ids: pd.DataFrame) -> pd.Series:
    """Every issued id -> the id it resolves to (itself unless retired), indexed by pace_id."""
    pid = ids[PACE_ID].to_numpy(dtype=object)
    retired = (ids["status"] == "retired").to_numpy()
    step = pd.Series(np.where(retired, ids["survivor"].to_numpy(dtype=object), pid), index=pid, dtype=object)
    current = step.copy()
    for _ in range(len(ids) + 1):  # each round follows one more survivor link; chains are short
        nxt = current.map(step)
        if nxt.isna().any():
            raise LinkageError("resolve: a retired id names a survivor that was never issued")
        if nxt.equals(current):
            return current
        current = nxt
    raise LinkageError("resolve: the survivor chain of a retired id is broken (cycle)")


def id_history(state: State, pace_id: str) -> pd.DataFrame:
    """What ``pace_id`` was, when and why: the events of the id, of the ids merged into it (at any depth)
    and the events naming it as ``other_id`` (split from it, merged into another), in order."""
    family = {pace_id}
    ids = state.ids
    retired = ids[ids["status"] == "retired"]
    while True:
        more = set(retired.loc[retired["survivor"].isin(family), PACE_ID]) - family
        if not more:
            break
        family |= more
    h = state.history
    sel = h[PACE_ID].isin(family) | h["other_id"].isin(family)
    return h[sel].sort_values("seq", kind="stable").reset_index(drop=True)


def _cluster_id(key: str, prefix: str = "P") -> str:
    return prefix + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _fresh_id(key: str, run_id: str, taken: set) -> str:
    """The cluster rule's id for a group's smallest key, or, if ever issued, a run-specific one."""
    candidate = _cluster_id(key)
    k = 0
    while candidate in taken:
        suffix = run_id if k == 0 else f"{run_id}{KEY_SEP}{k}"
        candidate = _cluster_id(key + KEY_SEP + suffix)
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
# Inputs
# --------------------------------------------------------------------------------------------------
def _check_run_id(state: State, run_id) -> str:
    run_id = str(run_id or "").strip()
    if not run_id:
        raise LinkageError("incremental: run id is empty")
    if (state.history["run_id"] == run_id).any() or (state.clerical["run_id"] == run_id).any():
        raise LinkageError(f"incremental: run id '{run_id}' was already used on this state")
    return run_id


def _checked_state(state: State, cfg: PaceConfig) -> State:
    """The state with records and assignments in key order and aligned (a store may return rows in any
    order), and ``record_hash`` present."""
    rec, asg = state.records, state.assignments
    if len(rec) != len(asg):
        raise LinkageError("incremental: the state's records and assignments have different lengths")
    if not len(rec):
        return state
    if RECORD_HASH not in rec.columns:
        rec = rec.assign(**{RECORD_HASH: record_hash(rec, cfg.fields).to_numpy()})
    if not isinstance(rec.index, pd.RangeIndex) or not _is_sorted(*_key_arrays(rec)):
        rec = _sorted_by_key(rec.astype({SOURCE: str, RECORD_ID: str}))
    if not isinstance(asg.index, pd.RangeIndex) or not _is_sorted(*_key_arrays(asg)):
        asg = _sorted_by_key(asg[ASSIGNMENT_COLUMNS].astype({SOURCE: str, RECORD_ID: str}))
    if not _is_sorted(*_key_arrays(rec)):
        raise LinkageError("incremental: the state repeats a (source, record_id)")
    same = (rec[SOURCE].to_numpy(dtype=object) == asg[SOURCE].to_numpy(dtype=object)) & \
        (rec[RECORD_ID].to_numpy(dtype=object) == asg[RECORD_ID].to_numpy(dtype=object))
    if not same.all():
        raise LinkageError("incremental: the state's assignments do not cover exactly its records")
    if asg[PACE_ID].isna().any():
        raise LinkageError("incremental: a record in the state has no pace_id")
    return State(records=rec, assignments=asg, ids=state.ids, clerical=state.clerical, history=state.history)


def _prepare_batch(batch: pd.DataFrame, cfg: PaceConfig) -> pd.DataFrame:
    missing = [c for c in linkage_columns(cfg) if c not in batch.columns]
    if missing:
        raise LinkageError(f"incremental: the batch has no column(s) {', '.join(missing)}")
    batch = batch.drop(columns=[RECORD_HASH], errors="ignore")
    for col in (SOURCE, RECORD_ID):  # keys as text (a column-wise conversion, not a copy of the frame)
        if not all(isinstance(v, str) for v in batch[col].to_numpy(dtype=object)):
            batch[col] = batch[col].astype(str)
    dup = batch.duplicated([SOURCE, RECORD_ID])
    if dup.any():
        raise LinkageError(f"incremental: the batch repeats (source, record_id) {int(dup.sum())} time(s)")
    batch = _sorted_by_key(batch)
    batch[RECORD_HASH] = record_hash(batch, cfg.fields).to_numpy()
    return batch


def _prepare_deletions(deletions: pd.DataFrame | None) -> pd.DataFrame:
    if deletions is None or len(deletions) == 0:
        return pd.DataFrame({SOURCE: [], RECORD_ID: [], "reason": []}, dtype=object)
    missing = [c for c in (SOURCE, RECORD_ID, "reason") if c not in deletions.columns]
    if missing:
        raise LinkageError(f"incremental: deletions have no column(s) {', '.join(missing)}")
    d = deletions[[SOURCE, RECORD_ID, "reason"]].astype({SOURCE: str, RECORD_ID: str})
    bad = ~d["reason"].astype(str).str.match(_REASON)
    if bad.any():
        raise LinkageError(f"incremental: {int(bad.sum())} deletion reason(s) are not short lower-case codes "
                           "(e.g. deleted, consent_withdrawn)")
    return d.drop_duplicates([SOURCE, RECORD_ID], keep="last").reset_index(drop=True)


def _pair_keys(f: pd.DataFrame) -> pd.Series:
    return pd.Series(_keys(f, "source_l", "record_id_l") + KEY_SEP + _keys(f, "source_r", "record_id_r"),
                     dtype=object)


def _prepare_clerical(state: State, clerical: pd.DataFrame | None, run_id: str) -> tuple[pd.DataFrame, dict]:
    """Stored decisions plus this run's (oriented so the left key sorts first); a later decision on a pair
    replaces the earlier one. Sorted by key pair."""
    stored = state.clerical[CLERICAL_COLUMNS].copy()
    counts = {"clerical_added": 0, "clerical_replaced": 0}
    if clerical is not None and len(clerical):
        missing = [c for c in PAIR_KEY_COLUMNS + ["decision"] if c not in clerical.columns]
        if missing:
            raise LinkageError(f"incremental: clerical decisions have no column(s) {', '.join(missing)}")
        new = clerical[PAIR_KEY_COLUMNS + ["decision"]].astype(str).copy()
        bad = ~new["decision"].isin(DECISIONS)
        if bad.any():
            raise LinkageError(f"incremental: {int(bad.sum())} clerical decision(s) are neither must_link nor "
                               "cannot_link")
        kl, kr = _keys(new, "source_l", "record_id_l"), _keys(new, "source_r", "record_id_r")
        if (kl == kr).any():
            raise LinkageError("incremental: a clerical decision pairs a record with itself")
        swap = kl > kr
        for a, b in (("source_l", "source_r"), ("record_id_l", "record_id_r")):
            la, lb = new[a].to_numpy(dtype=object).copy(), new[b].to_numpy(dtype=object).copy()
            new[a], new[b] = np.where(swap, lb, la), np.where(swap, la, lb)
        new = new.drop_duplicates()
        if new.duplicated(PAIR_KEY_COLUMNS).any():
            raise LinkageError("incremental: a pair has both must_link and cannot_link in this run's decisions")
        new["run_id"] = run_id
        redecided = np.zeros(len(stored), dtype=bool)
        if len(stored):
            redecided = _pair_keys(stored).isin(set(_pair_keys(new))).to_numpy()
        counts["clerical_added"] = int(len(new))
        counts["clerical_replaced"] = int(redecided.sum())
        stored = pd.concat([stored[~redecided], new[CLERICAL_COLUMNS]], ignore_index=True) if len(stored) \
            else new[CLERICAL_COLUMNS].reset_index(drop=True)
    if len(stored):
        order = np.lexsort(tuple(stored[c].to_numpy(dtype=str) for c in reversed(PAIR_KEY_COLUMNS)))
        stored = stored.iloc[order].reset_index(drop=True)
    return stored, counts


# --------------------------------------------------------------------------------------------------
# The working set: live records after this batch
# --------------------------------------------------------------------------------------------------
@dataclass
class _Work:
    records: pd.DataFrame  # live records after the batch, sorted by key, RangeIndex
    own: np.ndarray  # the id each record belonged to before the run (None for new records)
    is_batch: np.ndarray  # new or updated in this run
    is_updated: np.ndarray
    counts: pd.DataFrame  # per source: new, updated, unchanged, deleted
    removed: pd.DataFrame  # source, record_id, pace_id, reason
    deletions_not_found: int


def _like(batch: pd.DataFrame, state_records: pd.DataFrame) -> pd.DataFrame:
    """The batch with a column typed as text (object) wherever the state's is (e.g. read back from a
    store), so the two concatenate without guessing a type from all-null columns."""
    cast = {c: object for c in batch.columns if c in state_records.columns
            and state_records[c].dtype == object and batch[c].dtype != object}
    return batch.astype(cast) if cast else batch


def _working_set(state: State, batch: pd.DataFrame, deletions: pd.DataFrame) -> _Work:
    """Classify the batch and build the live records after it: a merge of two sorted key sequences (the
    kept state records and the entering batch records), so the state is never re-sorted."""
    st = state.records
    st_src, st_rid = _key_arrays(st)
    st_ids = state.assignments[PACE_ID].to_numpy(dtype=object)
    b_src, b_rid = _key_arrays(batch)
    b_pos = _lookup(st_src, st_rid, b_src, b_rid)
    known = b_pos >= 0
    same = np.zeros(len(batch), dtype=bool)
    if known.any():
        same[known] = st[RECORD_HASH].to_numpy(dtype=object)[b_pos[known]] == \
            batch[RECORD_HASH].to_numpy(dtype=object)[known]
    d_src, d_rid = _key_arrays(deletions)
    d_in_state = _lookup(st_src, st_rid, d_src, d_rid)
    d_in_batch = _lookup(b_src, b_rid, d_src, d_rid)
    batch_deleted = np.zeros(len(batch), dtype=bool)
    batch_deleted[d_in_batch[d_in_batch >= 0]] = True
    updated = known & ~same & ~batch_deleted
    is_new = ~known & ~batch_deleted
    drop_state = np.zeros(len(st), dtype=bool)
    drop_state[d_in_state[d_in_state >= 0]] = True
    drop_state[b_pos[updated]] = True

    found = d_in_state >= 0
    removed = pd.DataFrame({SOURCE: d_src[found], RECORD_ID: d_rid[found], PACE_ID: st_ids[d_in_state[found]],
                            "reason": deletions["reason"].to_numpy(dtype=object)[found]})
    removed = _sorted_by_key(removed) if len(removed) else removed

    keep = np.flatnonzero(~drop_state)
    enter = np.flatnonzero(is_new | updated)
    # merge two sorted sequences: each entering record's place among the kept ones
    ins = _search(st_src[keep], st_rid[keep], b_src[enter], b_rid[enter])[0] if len(keep) else \
        np.zeros(len(enter), np.int64)
    n_out = len(keep) + len(enter)
    at_batch = ins + np.arange(len(enter))
    from_batch = np.zeros(n_out, dtype=bool)
    from_batch[at_batch] = True
    take = np.empty(n_out, dtype=np.int64)  # row of concat([state, batch]) for each output position
    take[~from_batch] = keep
    take[at_batch] = len(st) + enter
    if len(enter) and len(st):
        records = pd.concat([st, _like(batch, st)], ignore_index=True).take(take)
    elif len(enter):
        records = batch.take(enter)
    else:
        records = st.take(keep)
    records.index = pd.RangeIndex(n_out)  # in place: reset_index would copy the frame again
    prev = np.full(len(batch), None, dtype=object)
    prev[updated] = st_ids[b_pos[updated]]
    own = np.empty(n_out, dtype=object)
    own[~from_batch] = st_ids[keep]
    own[at_batch] = prev[enter]
    is_upd = np.zeros(n_out, dtype=bool)
    is_upd[at_batch] = updated[enter]

    def per_source(values, mask) -> pd.Series:
        return pd.Series(np.asarray(values, dtype=object)[mask], dtype=object).value_counts()

    counts = pd.DataFrame({
        "new": per_source(b_src, is_new), "updated": per_source(b_src, updated),
        "unchanged": per_source(b_src, known & same & ~batch_deleted),
        "deleted": per_source(d_src, found | (d_in_batch >= 0)),
    }).fillna(0).astype(np.int64)
    return _Work(records, own, from_batch, is_upd, counts, removed,
                 int(((d_in_state < 0) & (d_in_batch < 0)).sum()))


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------
def _compare_involved(rec: pd.DataFrame, pairs: pd.DataFrame, rescored: pd.DataFrame,
                      cfg: PaceConfig) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """Comparison levels of the candidate and re-scored pairs, computed on the records they involve only
    (a level depends on the two values alone), so the cost follows the batch, not the state."""
    if not len(pairs) and not len(rescored):
        names = [c.name for c in cfg.linkage.comparisons]
        return pd.DataFrame({c: np.empty(0, np.int8) for c in names}, index=pairs.index), None
    ends = [pairs[LEFT], pairs[RIGHT], rescored[LEFT], rescored[RIGHT]]
    involved = np.unique(np.concatenate([e.to_numpy(np.int64) for e in ends]))
    sub = _rows(rec, involved, [c for c in linkage_columns(cfg) if c in rec.columns])
    local = np.full(len(rec), -1, dtype=np.int64)
    local[involved] = np.arange(len(involved))
    cache = ColumnCache(sub)

    def remap(p: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({LEFT: local[p[LEFT].to_numpy(np.int64)], RIGHT: local[p[RIGHT].to_numpy(np.int64)]},
                            index=p.index)

    gamma = compare(sub, remap(pairs), cfg.linkage.comparisons, cache=cache)
    extra = compare(sub, remap(rescored), cfg.linkage.comparisons, cache=cache) if len(rescored) else None
    return gamma, extra


def _keyed_pairs(records: pd.DataFrame, pairs: pd.DataFrame, gamma: pd.DataFrame, scored: pd.DataFrame,
                 rule_names: list[str]) -> pd.DataFrame:
    """Scored pairs by record key (the layout of the store's pairs table)."""
    l_idx, r_idx = pairs[LEFT].to_numpy(np.int64), pairs[RIGHT].to_numpy(np.int64)
    src, rid = records[SOURCE].to_numpy(dtype=object), records[RECORD_ID].to_numpy(dtype=object)
    names = np.asarray(rule_names + ["rescored_person"], dtype=object)
    out = pd.DataFrame({"source_l": src[l_idx], "record_id_l": rid[l_idx], "source_r": src[r_idx],
                        "record_id_r": rid[r_idx], "blocking_rule": names[pairs[RULE].to_numpy(np.int64)]})
    for col in gamma.columns:
        out[f"gamma_{col}"] = gamma[col].to_numpy()
    out[MATCH_WEIGHT] = scored[MATCH_WEIGHT].to_numpy().round(10)
    out[MATCH_PROBABILITY] = scored[MATCH_PROBABILITY].to_numpy().round(12)
    return out


# --------------------------------------------------------------------------------------------------
# The batch
# --------------------------------------------------------------------------------------------------
def link_batch(
    state: State, batch: pd.DataFrame, cfg: PaceConfig, model: FSModel | None, run_id: str,
    threshold: float | None = None, *, deletions: pd.DataFrame | None = None,
    clerical: pd.DataFrame | None = None, duplicate_free: Iterable[str] | None = None,
    refresh_model: bool = False, seed: int | None = None,
) -> BatchResult:
    """Link ``batch`` (normalised records: source, record_id and the linkage columns) against ``state``
    and return the next state (see the module docstring for every rule). ``threshold`` defaults to
    ``cfg.linkage.threshold``, ``seed`` to ``cfg.seed``; ``duplicate_free`` names the duplicate-free
    sources (default: those the config marks)."""
    t: dict[str, float] = {}
    t_start = t0 = time.perf_counter()
    lk = cfg.linkage
    run_id = _check_run_id(state, run_id)
    thr = lk.threshold if threshold is None else float(threshold)
    seed = cfg.seed if seed is None else int(seed)
    dup_sources = set(duplicate_free) if duplicate_free is not None else \
        {s.name for s in cfg.sources.items if s.duplicate_free}
    if model is not None:
        check_compatible(model, lk)
    state = _checked_state(state, cfg)
    batch = _prepare_batch(batch, cfg)
    dels = _prepare_deletions(deletions)
    decisions, clerical_counts = _prepare_clerical(state, clerical, run_id)
    work = _working_set(state, batch, dels)
    rec = work.records
    n = len(rec)
    # persons before the run, by code (-1: new record); clerical decisions by position
    own_code = pd.factorize(work.own, use_na_sentinel=True)[0].astype(np.int64)
    kept = ~work.is_batch
    w_src, w_rid = _key_arrays(rec)
    dl = _lookup(w_src, w_rid, *_key_arrays(decisions, "source_l", "record_id_l"))
    dr = _lookup(w_src, w_rid, *_key_arrays(decisions, "source_r", "record_id_r"))
    active = (dl >= 0) & (dr >= 0)
    is_must = (decisions["decision"] == "must_link").to_numpy() & active
    is_cannot = (decisions["decision"] == "cannot_link").to_numpy() & active
    this_run = (decisions["run_id"] == run_id).to_numpy() & active
    # a cannot-link between two unchanged records of one person: that person is re-clustered from evidence
    cl, cr = dl[is_cannot], dr[is_cannot]
    inside = kept[cl] & kept[cr] & (own_code[cl] == own_code[cr]) & (own_code[cl] >= 0)
    broken_codes = np.unique(own_code[cl[inside]])
    broken = kept & np.isin(own_code, broken_codes)
    t["classify"] = time.perf_counter() - t0

    # candidate pairs: new x new and new x existing only
    t0 = time.perf_counter()
    blocked = block(rec, lk.blocking, lk.link_type, lk.max_pairs_per_rule, new=work.is_batch) if n else \
        BlockingResult(pd.DataFrame({LEFT: np.empty(0, np.int32), RIGHT: np.empty(0, np.int32),
                                     RULE: np.empty(0, np.int8)}), pd.DataFrame())
    extra_l, extra_r = within_group_pairs(np.where(broken, own_code, -1), "rescored_person", 1 << 62)
    rescored = pd.DataFrame({LEFT: np.minimum(extra_l, extra_r).astype(np.int32),
                             RIGHT: np.maximum(extra_l, extra_r).astype(np.int32),
                             RULE: np.full(len(extra_l), len(lk.blocking), np.int8)})
    t["block"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    gamma, gamma_extra = _compare_involved(rec, blocked.pairs, rescored, cfg)
    cache = ColumnCache(rec)  # scoring's term frequencies (and training) read all live records
    t["compare"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    trained = False
    if model is None or refresh_model:
        if len(blocked.pairs) or model is None and len(rescored):
            model = train(rec, lk, seed, pairs=blocked.pairs, gamma=gamma, training="unsupervised", cache=cache)
            trained = True
    t["train"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    if model is None:
        if len(rescored):
            raise LinkageError("incremental: re-scoring a person split by a cannot-link decision needs a model")
        scored = pd.DataFrame({LEFT: blocked.pairs[LEFT], RIGHT: blocked.pairs[RIGHT], RULE: blocked.pairs[RULE],
                               MATCH_WEIGHT: np.zeros(0), MATCH_PROBABILITY: np.zeros(0)})
    else:
        scored = score(model, rec, blocked.pairs, gamma, cache=cache)
    scored_extra = score(model, rec, rescored, gamma_extra, cache=cache) if len(rescored) else None
    t["score"] = time.perf_counter() - t0

    # edges >= threshold (new pairs and re-scored pairs of persons split by a decision)
    t0 = time.perf_counter()
    frames = [scored] + ([scored_extra] if scored_extra is not None else [])
    e_l = np.concatenate([f[LEFT].to_numpy(np.int64) for f in frames])
    e_r = np.concatenate([f[RIGHT].to_numpy(np.int64) for f in frames])
    e_w = np.concatenate([f[MATCH_WEIGHT].to_numpy(np.float64) for f in frames])
    e_p = np.concatenate([f[MATCH_PROBABILITY].to_numpy(np.float64) for f in frames])
    link = e_p >= thr
    e_l, e_r, e_w, e_p = e_l[link], e_r[link], e_w[link], e_p[link]

    decision_pos = {"l": dl, "r": dr, "must": is_must, "cannot": is_cannot, "this_run": this_run}
    touched, conflicts, person_edges = _cluster_touched(rec, own_code, work, broken, (e_l, e_r, e_w, e_p),
                                                        decision_pos, thr, lk.clustering, dup_sources)
    t["cluster"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    new_state, events, extra = _assign_ids(state, work, own_code, touched, broken_codes, run_id)
    new_state.clerical = decisions
    conflicts = _conflicts_by_id(conflicts, touched, extra["final"])
    t["ids"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    rule_names = [r.name for r in lk.blocking]
    pairs_out = _keyed_pairs(rec, blocked.pairs, gamma, scored, rule_names) if model is not None else \
        pd.DataFrame(columns=PAIR_KEY_COLUMNS + ["blocking_rule", MATCH_WEIGHT, MATCH_PROBABILITY])
    removed = work.removed.assign(run_id=run_id)[REMOVED_COLUMNS]
    summary = _summary(state, new_state, work, extra, conflicts, {
        "candidate_pairs": int(len(blocked.pairs)), "rescored_pairs": int(len(rescored)), "links": int(link.sum()),
        "records_clustered": int(len(touched.pos)), "person_edges": person_edges,
        "clerical_stored": int(len(decisions)), "clerical_active": int(active.sum()), **clerical_counts,
    })
    summary["run_id"] = run_id
    summary["threshold"] = thr
    summary["model_trained"] = trained
    t["outputs"] = time.perf_counter() - t0
    t["total"] = time.perf_counter() - t_start
    return BatchResult(state=new_state, events=events, pairs=pairs_out, model=model, model_trained=trained,
                       summary=summary, timings={k: round(v, 4) for k, v in t.items()},
                       conflicts=conflicts, removed=removed, blocking=blocked, gamma=gamma, scored=scored)


# --------------------------------------------------------------------------------------------------
# Clustering the touched part
# --------------------------------------------------------------------------------------------------
def _cluster_touched(rec: pd.DataFrame, own_code: np.ndarray, work: _Work, broken: np.ndarray,
                     edges: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray], decisions: dict,
                     thr: float, settings, dup_sources: set) -> tuple[_Touched, pd.DataFrame, int]:
    """Cluster the records the batch touches (module docstring). Returns the touched part, the conflicts
    and the number of person edges."""
    n = len(rec)
    e_l, e_r, e_w, e_p = edges
    kept = ~work.is_batch
    dl, dr = decisions["l"], decisions["r"]
    touched = work.is_batch | broken
    for ends in (e_l, e_r, dl[decisions["this_run"]], dr[decisions["this_run"]]):
        touched[ends] = True
    ml, mr = dl[decisions["must"]], dr[decisions["must"]]
    for _ in range(n + 1):  # whole persons, and whatever stored must-links pull in
        touched |= np.isin(own_code, np.unique(own_code[touched & (own_code >= 0)]))
        pull = touched[ml] ^ touched[mr]
        if not pull.any():
            break
        touched[ml[pull]] = True
        touched[mr[pull]] = True
    pos = np.flatnonzero(touched)
    local = np.full(n, -1, dtype=np.int64)
    local[pos] = np.arange(len(pos))
    sub = _rows(rec, pos, [SOURCE, RECORD_ID, *settings.conflict_fields]) if len(pos) else None
    t = _Touched(pos=pos, labels=np.zeros(len(pos), np.int64),
                 keys=_keys(sub) if len(pos) else np.empty(0, dtype=object), person=own_code[pos],
                 kept=kept[pos], updated=work.is_updated[pos], batch=work.is_batch[pos],
                 edges=(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)))
    if not len(pos):
        return t, pd.DataFrame(columns=["clustering", PACE_ID, "kind", "count", "resolution"]), 0

    # person edges: each person's unchanged records tied to its first one (not for persons re-clustered)
    tied = pos[kept[pos] & (own_code[pos] >= 0) & ~broken[pos]]
    first = pd.Series(tied).groupby(own_code[tied]).transform("min").to_numpy()
    star = tied != first
    m_in = touched[ml] & touched[mr]
    must_l = np.r_[local[first[star]], local[ml[m_in]]]
    must_r = np.r_[local[tied[star]], local[mr[m_in]]]
    cl, cr = dl[decisions["cannot"]], dr[decisions["cannot"]]
    c_in = touched[cl] & touched[cr]
    sub_scored = pd.DataFrame({LEFT: local[e_l], RIGHT: local[e_r], MATCH_WEIGHT: e_w, MATCH_PROBABILITY: e_p})
    dup = rec[SOURCE].isin(dup_sources).to_numpy()[pos] if dup_sources else None
    res = cluster(sub, sub_scored, thr, settings, None, duplicate_free=dup,
                  must_link=(must_l, must_r) if len(must_l) else None,
                  cannot_link=(local[cl[c_in]], local[cr[c_in]]) if c_in.any() else None)
    t.labels = pd.factorize(res.clusters[PACE_ID], sort=True)[0].astype(np.int64)
    t.edges = (np.r_[local[e_l], local[ml[m_in]]], np.r_[local[e_r], local[mr[m_in]]],
               np.r_[e_w, np.full(int(m_in.sum()), np.nan)])
    return t, res.conflicts, int(star.sum())


# --------------------------------------------------------------------------------------------------
# Persistent ids
# --------------------------------------------------------------------------------------------------
@dataclass
class _Touched:
    """The clustered part in local coordinates (index into ``pos``)."""

    pos: np.ndarray  # positions in the working set
    labels: np.ndarray  # group per local record, 0..G-1
    keys: np.ndarray  # record key per local record
    person: np.ndarray  # person code before the run (-1: new record)
    kept: np.ndarray  # unchanged record from the state
    updated: np.ndarray
    batch: np.ndarray
    edges: tuple[np.ndarray, np.ndarray, np.ndarray]  # local l, r, weight (NaN: clerical must-link)


def _parts(t: _Touched) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per (person, group): records, unchanged records, smallest key rank; and each person's keeper part
    (most records, then most unchanged records, then smallest key)."""
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


def _assign_ids(state: State, work: _Work, own_code: np.ndarray, t: _Touched, broken_codes: np.ndarray,
                run_id: str) -> tuple[State, pd.DataFrame, dict]:
    """Map the groups to persistent ids (module docstring); returns (next state, events, counts)."""
    rec = work.records
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
    new_ids = _new_ids(state, t, np.flatnonzero(claims == 0), first_local, run_id)
    label_id[list(new_ids)] = list(new_ids.values())
    retire: list[tuple[str, str, int, int]] = []  # (retired id, survivor id, group, retired person code)
    multi = keepers[claims[keepers["label"].to_numpy(np.int64)] > 1]
    run_rank, created_run = {}, {}
    if len(multi):  # merges: the runs' order and each candidate's creating run
        run_rank = _run_rank(state)
        made = state.ids[state.ids[PACE_ID].isin(set(id_of[multi["person"].to_numpy(np.int64)]))]
        created_run = dict(zip(made[PACE_ID], made["created_run"], strict=True))
    for g, held in multi.groupby("label", sort=True):
        codes = held["person"].to_numpy(np.int64)
        cands = sorted(zip(id_of[codes], held["records"], codes, strict=True),
                       key=lambda c: (run_rank.get(created_run.get(c[0]), len(run_rank)), -c[1], c[0]))
        label_id[g] = cands[0][0]
        retire += [(c[0], cands[0][0], int(g), int(c[2])) for c in cands[1:]]

    final = np.asarray(work.own, dtype=object).copy()
    if len(t.pos):
        final[t.pos] = label_id[t.labels]
    retired_to = {r[0]: r[1] for r in retire}
    # ids that may have lost their last record: those of removed records and of the touched persons
    cands = (set(work.removed[PACE_ID]) | set(pd.Series(work.own[t.pos], dtype=object).dropna())) - set(retired_to)
    final_s = pd.Series(final, dtype=object)
    emptied = cands - set(final_s[final_s.isin(cands)])
    events = _events(state, work, t, parts, id_of, label_id, new_ids, first_local, retire, retired_to,
                     broken_codes, final, emptied, run_id)
    ids = _next_ids(state, work, t, final, new_ids, retired_to, parts, id_of, label_id, emptied, run_id)
    assignments = pd.DataFrame({SOURCE: rec[SOURCE].to_numpy(dtype=object),
                                RECORD_ID: rec[RECORD_ID].to_numpy(dtype=object), PACE_ID: final})
    history = pd.concat([state.history, events], ignore_index=True) if len(state.history) else events
    new_state = State(records=rec, assignments=assignments, ids=ids, clerical=state.clerical, history=history)
    extra = {"new_ids": new_ids, "retire": retire, "splits": int((~parts["keeper"]).sum()), "final": final,
             "emptied": len(emptied)}
    return new_state, events, extra


def _new_ids(state: State, t: _Touched, groups: np.ndarray, first_local: np.ndarray, run_id: str) -> dict:
    """Group -> new id for the groups holding no existing id: the cluster rule's id of the smallest key,
    or a run-specific one when that id was ever issued (checked in bulk; collisions are rare)."""
    groups = sorted(groups.tolist(), key=lambda g: t.keys[first_local[g]])
    keys = [t.keys[first_local[g]] for g in groups]
    ids = [_cluster_id(k) for k in keys]
    taken = set(state.ids.loc[state.ids[PACE_ID].isin(ids), PACE_ID])
    out = {}
    for g, k, candidate in zip(groups, keys, ids, strict=True):
        if candidate in taken:
            candidate = _fresh_id(k, run_id, taken)
        taken.add(candidate)
        out[int(g)] = candidate
    return out


def _next_ids(state, work, t, final, new_ids, retired_to, parts, id_of, label_id, emptied, run_id) -> pd.DataFrame:
    """The ids table after the run: new ids, retired ids, emptied ids, ``changed_run`` of every id whose
    records or status changed."""
    ids = state.ids[ID_COLUMNS].copy()
    if new_ids:
        fresh = pd.DataFrame({PACE_ID: sorted(new_ids.values()), "status": "active", "survivor": None,
                              "created_run": run_id, "changed_run": run_id})
        ids = pd.concat([ids, fresh], ignore_index=True) if len(ids) else fresh
    o = pd.Series(work.own[t.pos], dtype=object)
    f = pd.Series(final[t.pos], dtype=object)
    moved = (o.map(lambda x: retired_to.get(x, x)) != f).to_numpy() & o.notna().to_numpy()
    split = parts[~parts["keeper"]]
    changed = set(f[t.batch | moved]) | set(o[moved | t.updated].dropna()) | set(work.removed[PACE_ID]) \
        | set(retired_to) | set(retired_to.values()) | set(id_of[split["person"].to_numpy(np.int64)]) \
        | set(label_id[split["label"].to_numpy(np.int64)])
    pid = ids[PACE_ID]
    is_retired = pid.isin(retired_to).to_numpy()
    ids.loc[is_retired, "status"] = "retired"
    ids.loc[is_retired, "survivor"] = pid[is_retired].map(retired_to)
    ids.loc[pid.isin(emptied).to_numpy(), "status"] = "empty"
    ids.loc[pid.isin(changed).to_numpy(), "changed_run"] = run_id
    return ids.reset_index(drop=True)


def _conflicts_by_id(conflicts: pd.DataFrame, t: _Touched, final: np.ndarray) -> pd.DataFrame:
    """Conflict rows under the persistent id now held by the smallest record of the conflicting component
    (:func:`pace_linkage.engine.cluster.cluster` names the component by the hash of that record's key)."""
    if conflicts.empty:
        return conflicts.reset_index(drop=True)
    by_hash = {_cluster_id(k): i for i, k in enumerate(t.keys)}
    out = conflicts.copy()
    out[PACE_ID] = [final[t.pos[by_hash[h]]] for h in conflicts[PACE_ID]]
    return out.sort_values([PACE_ID, "kind"], kind="stable").reset_index(drop=True)


def _merge_detail(t: _Touched, g: int, members: np.ndarray, by_label: dict) -> str:
    """The strongest edges between a retired person's records (``members``, local mask) and the rest of
    its new group ``g``: record keys and match weights (null: a clerical must-link), at most 5."""
    a, b, w = t.edges
    idx = by_label.get(g, np.empty(0, np.int64))
    idx = idx[members[a[idx]] ^ members[b[idx]]]
    clerical = np.isnan(w[idx])
    idx = idx[np.lexsort((t.keys[b[idx]], t.keys[a[idx]], -np.where(clerical, np.inf, w[idx])))]
    rows = [{"l": t.keys[a[i]].split(KEY_SEP, 1), "r": t.keys[b[i]].split(KEY_SEP, 1),
             "w": None if np.isnan(w[i]) else round(float(w[i]), 3)} for i in idx[:MERGE_PAIRS_SHOWN]]
    return _json({"pairs": rows, "records": int(members.sum())})


def _events(state, work, t, parts, id_of, label_id, new_ids, first_local, retire, retired_to, broken_codes,
            final, emptied, run_id) -> pd.DataFrame:
    """This run's history rows, in a fixed order: removals, merges, splits, creations, then record rows."""
    rows: list[dict] = []
    removed = work.removed
    last = ~removed.duplicated(PACE_ID, keep="last").to_numpy() if len(removed) else np.zeros(0, bool)
    for r, is_last in zip(removed.itertuples(index=False), last, strict=True):
        detail = {"reason": r.reason}
        if is_last and r.pace_id in emptied:
            detail["person_left_empty"] = True
        rows.append({"event": "record_removed", PACE_ID: r.pace_id, "other_id": None, SOURCE: r.source,
                     RECORD_ID: r.record_id, "detail": _json(detail)})
    if retire:
        a, b, _ = t.edges
        merged_groups = np.unique([r[2] for r in retire])
        inside = np.flatnonzero((t.labels[a] == t.labels[b]) & np.isin(t.labels[a], merged_groups))
        inside = inside[np.argsort(t.labels[a[inside]], kind="stable")]
        cuts = np.flatnonzero(np.diff(t.labels[a[inside]])) + 1
        by_label = {int(t.labels[a[chunk[0]]]): chunk for chunk in np.split(inside, cuts) if len(chunk)}
        for retired, survivor, g, code in sorted(retire, key=lambda x: (x[1], x[0])):
            members = (t.person == code) & (t.labels == g)
            rows.append({"event": "merged", PACE_ID: survivor, "other_id": retired, SOURCE: None, RECORD_ID: None,
                         "detail": _merge_detail(t, g, members, by_label)})
    split_from: dict[str, str] = {}
    for sp in parts[~parts["keeper"]].sort_values(["person", "first"], kind="stable").itertuples():
        old, new = id_of[sp.person], label_id[sp.label]
        cause = "cannot_link" if sp.person in broken_codes else "record_updated" if sp.updated else "clerical"
        rows.append({"event": "split", PACE_ID: old, "other_id": new, SOURCE: None, RECORD_ID: None,
                     "detail": _json({"cause": cause, "records": int(sp.records)})})
        split_from.setdefault(new, old)
    src = work.records[SOURCE].to_numpy(dtype=object)[t.pos]
    rid = work.records[RECORD_ID].to_numpy(dtype=object)[t.pos]
    founders = np.zeros(len(t.pos), dtype=bool)
    sizes = np.bincount(t.labels) if len(t.labels) else np.zeros(0, np.int64)
    for g, pid in sorted(new_ids.items(), key=lambda x: x[1]):
        f = int(first_local[g])
        founders[f] = True
        rows.append({"event": "created", PACE_ID: pid, "other_id": split_from.get(pid), SOURCE: src[f],
                     RECORD_ID: rid[f], "detail": _json({"records": int(sizes[g]),
                                                         "cause": "split" if pid in split_from else "new_records"})})
    # record rows, vectorised: updated records, new records, records moved by a split
    o = pd.Series(work.own[t.pos], dtype=object)
    f = final[t.pos]
    o_now = o.map(lambda x: retired_to.get(x, x)).to_numpy(dtype=object)
    differs = o.notna().to_numpy() & (o_now != f)
    moved = t.kept & differs
    record_rows = pd.DataFrame({
        "event": np.where(t.updated, "record_updated", "joined"), PACE_ID: f,
        "other_id": np.where(differs, o.to_numpy(dtype=object), None), SOURCE: src, RECORD_ID: rid, "detail": "{}",
    })[t.updated | ((t.batch | moved) & ~founders)]
    id_rows = pd.DataFrame(rows, columns=["event", PACE_ID, "other_id", SOURCE, RECORD_ID, "detail"])
    events = pd.concat([id_rows, record_rows], ignore_index=True) if len(id_rows) else \
        record_rows.reset_index(drop=True)
    start = int(state.history["seq"].max()) + 1 if len(state.history) else 0
    events.insert(0, "seq", np.arange(start, start + len(events), dtype=np.int64))
    events.insert(0, "run_id", run_id)
    return events[HISTORY_COLUMNS].reset_index(drop=True)


def _summary(before: State, after: State, work: _Work, extra: dict, conflicts: pd.DataFrame, counts: dict) -> dict:
    """Per source: records new / updated / unchanged / deleted, new records that joined an existing
    person, new persons holding a batch record of the source; totals for the run."""
    src = after.records[SOURCE].to_numpy()
    final = extra["final"]
    new_ids = set(extra["new_ids"].values())
    b = work.is_batch
    fresh = np.flatnonzero(b & ~work.is_updated)
    joined = pd.Series(src[fresh[pd.Series(final[fresh], dtype=object).isin(before.ids[PACE_ID]).to_numpy()]])
    in_new = pd.DataFrame({SOURCE: src[b], PACE_ID: final[b]})
    in_new = in_new[in_new[PACE_ID].isin(new_ids)].drop_duplicates()
    by_source = work.counts.copy()
    by_source["joined_existing"] = joined.value_counts()
    by_source["new_persons"] = in_new.groupby(SOURCE).size()
    by_source = by_source.fillna(0).astype(np.int64).sort_index()
    totals = {
        "records_before": int(len(before.records)), "records_after": int(len(after.records)),
        "persons_before": before.persons(), "persons_after": after.persons(),
        **{k: int(work.counts[k].sum()) for k in ("new", "updated", "unchanged", "deleted")},
        "deletions_not_found": work.deletions_not_found,
        "joined_existing": int(by_source["joined_existing"].sum()), "new_persons": len(new_ids),
        "merges": len(extra["retire"]), "splits": extra["splits"], "persons_emptied": extra["emptied"],
        **counts,
        "clerical_conflicts": int((conflicts["kind"] == "clerical_conflict").sum()) if len(conflicts) else 0,
    }
    return {"by_source": {s: {k: int(v) for k, v in row.items()} for s, row in by_source.iterrows()},
            "totals": totals}


# --------------------------------------------------------------------------------------------------
# A state from a full run; comparing two clusterings
# --------------------------------------------------------------------------------------------------
def initial_state(records: pd.DataFrame, clusters, run_id: str, cfg: PaceConfig) -> State:
    """The state after an ordinary full run: ``records`` (normalised) and ``clusters`` (a
    :class:`~pace_linkage.engine.cluster.ClusterResult` or a frame with source, record_id and ``cfg.id_column``).
    Every id is ``created`` by ``run_id`` (one ``created`` row per id naming its smallest record, one
    ``joined`` row per other record)."""
    frame = getattr(clusters, "clusters", clusters)
    id_col = cfg.id_column if cfg.id_column in frame.columns else PACE_ID
    if id_col not in frame.columns:
        raise LinkageError(f"incremental: the clusters have no '{cfg.id_column}' column")
    run_id = str(run_id or "").strip()
    if not run_id:
        raise LinkageError("incremental: run id is empty")
    state = empty_state()
    rec = _prepare_batch(records, cfg) if len(records) else records.assign(**{RECORD_HASH: pd.Series(dtype=object)})
    f_sorted = _sorted_by_key(frame[[SOURCE, RECORD_ID, id_col]].astype({SOURCE: str, RECORD_ID: str}))
    pos = _lookup(*_key_arrays(f_sorted), *_key_arrays(rec))
    frame = f_sorted
    if (pos < 0).any() or len(frame) != len(rec):
        raise LinkageError("incremental: the clusters do not cover exactly the records")
    pid = frame[id_col].to_numpy(dtype=object)[pos]
    if pd.isna(pd.Series(pid, dtype=object)).any():
        raise LinkageError("incremental: a record has no pace_id in the clusters")
    keys = _keys(rec)
    labels, uniq = pd.factorize(pd.Series(pid, dtype=object), sort=True)
    order = np.lexsort((keys, labels))
    first = order[np.r_[True, labels[order][1:] != labels[order][:-1]]] if len(order) else order
    founders = np.zeros(len(rec), dtype=bool)
    founders[first] = True
    src, rid = rec[SOURCE].to_numpy(dtype=object), rec[RECORD_ID].to_numpy(dtype=object)
    sizes = np.bincount(labels, minlength=len(uniq))
    created = pd.DataFrame({"event": "created", PACE_ID: pid[first], "other_id": None, SOURCE: src[first],
                            RECORD_ID: rid[first],
                            "detail": [_json({"cause": "new_records", "records": int(k)}) for k in sizes[labels[first]]]})
    created = created.sort_values(PACE_ID, kind="stable")
    joined = pd.DataFrame({"event": "joined", PACE_ID: pid[~founders], "other_id": None, SOURCE: src[~founders],
                           RECORD_ID: rid[~founders], "detail": "{}"})
    history = pd.concat([created, joined], ignore_index=True)
    history.insert(0, "seq", np.arange(len(history), dtype=np.int64))
    history.insert(0, "run_id", run_id)
    ids = pd.DataFrame({PACE_ID: np.asarray(uniq, dtype=object), "status": "active", "survivor": None,
                        "created_run": run_id, "changed_run": run_id})
    return State(records=rec, assignments=pd.DataFrame({SOURCE: src, RECORD_ID: rid, PACE_ID: pid}),
                 ids=ids[ID_COLUMNS] if len(ids) else state.ids, clerical=state.clerical,
                 history=history[HISTORY_COLUMNS] if len(history) else state.history)


def compare_partitions(a: pd.DataFrame, b: pd.DataFrame, id_a: str = PACE_ID, id_b: str = PACE_ID) -> dict:
    """How two clusterings of the same records differ (e.g. linked in batches vs in one go).

    ``a`` and ``b``: frames with source, record_id and an id column. Records present in only one are
    counted (``only_in_a`` / ``only_in_b``) and left out. A record *differs* when its person in ``a`` and
    its person in ``b`` do not hold exactly the same records. ``persons_split``: persons of ``a`` whose
    records are spread over several persons of ``b``; ``persons_merged``: persons of ``b`` gathering
    records from several persons of ``a``. Pairwise precision / recall / F1 treat ``a`` as the prediction
    and ``b`` as the reference (F1 is symmetric). ``differences``: the differing records (keys and both
    ids, sorted), no field value."""
    a = _sorted_by_key(a.astype({SOURCE: str, RECORD_ID: str}))
    b = _sorted_by_key(b.astype({SOURCE: str, RECORD_ID: str}))
    pos_b = _lookup(*_key_arrays(b), *_key_arrays(a))
    common = pos_b >= 0
    only_b = len(b) - int(common.sum())
    ca = pd.factorize(pd.Series(a[id_a].to_numpy(dtype=object)[common], dtype=object))[0].astype(np.int64)
    cb = pd.factorize(pd.Series(b[id_b].to_numpy(dtype=object)[pos_b[common]], dtype=object))[0].astype(np.int64)
    if (ca < 0).any() or (cb < 0).any():
        raise LinkageError("compare_partitions: a record has no id")
    size_a = np.bincount(ca)[ca] if len(ca) else ca
    size_b = np.bincount(cb)[cb] if len(cb) else cb
    joint = pd.factorize(ca * (int(cb.max()) + 1 if len(cb) else 1) + cb)[0]
    size_ab = np.bincount(joint)[joint] if len(joint) else joint
    differs = (size_ab != size_a) | (size_ab != size_b)

    def n_pairs(sizes: np.ndarray) -> int:
        return int((sizes * (sizes - 1) // 2).sum())

    tp = n_pairs(np.bincount(joint)) if len(joint) else 0
    pa = n_pairs(np.bincount(ca)) if len(ca) else 0
    pb = n_pairs(np.bincount(cb)) if len(cb) else 0
    precision = tp / pa if pa else 1.0
    recall = tp / pb if pb else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    pairs_ab = pd.DataFrame({"a": ca, "b": cb}).drop_duplicates()
    common_a = a[common].reset_index(drop=True)
    diff = pd.DataFrame({SOURCE: common_a[SOURCE].to_numpy(dtype=object)[differs],
                         RECORD_ID: common_a[RECORD_ID].to_numpy(dtype=object)[differs],
                         "id_a": common_a[id_a].to_numpy(dtype=object)[differs],
                         "id_b": b[id_b].to_numpy(dtype=object)[pos_b[common]][differs]})
    diff = _sorted_by_key(diff) if len(diff) else diff
    return {
        "records": int(common.sum()), "only_in_a": int((~common).sum()), "only_in_b": only_b,
        "persons_a": int(len(np.unique(ca))), "persons_b": int(len(np.unique(cb))),
        "records_differing": int(differs.sum()),
        "persons_split": int((pairs_ab.groupby("a").size() > 1).sum()),
        "persons_merged": int((pairs_ab.groupby("b").size() > 1).sum()),
        "pairwise": {"tp": tp, "pairs_a": pa, "pairs_b": pb, "precision": precision, "recall": recall, "f1": f1},
        "differences": diff,
    }
