"""The incremental state: what the system knows between runs, and the key lookups every step uses.

The system's memory is a :class:`State` (five frames, stored by the caller: :mod:`pace_linkage.incremental.persist`):
the live normalised records (with a ``record_hash``), each record's persistent id (``assignments``), every id
ever issued (``ids``), the clerical decisions (``clerical``) and an append-only event log (``history``).
:func:`pace_linkage.incremental.batch.link_batch` takes a state and a batch and returns the next state;
everything is a pure function over frames.

* **The id column** is the config's ``id_column`` (``pace_id`` by default) in every frame of the state, in
  the events and in the removed records (:func:`id_columns` and the other layouts below take it).
* **Keys.** A record is known by (source, record_id), as text. The state's records and assignments are sorted
  by that key, so a batch is looked up by binary search inside each source's slice (:func:`search_keys`),
  never by a pass over the whole state.
* **Record hash** (:func:`record_hash`): a record whose hash changed is an updated record; keys, ``line`` and
  derived columns are not hashed.
* **Deletions** name records by key with a short lower-case reason (``deleted``, ``consent_withdrawn``).
* **Clerical decisions** (source_l, record_id_l, source_r, record_id_r, decision ``must_link`` |
  ``cannot_link``) are stored with their run id and honoured in every later run. A later decision on the
  same pair replaces the earlier one (counted as ``clerical_replaced``). A decision naming a record not (or
  no longer) live is kept but inactive until the record arrives (:func:`prepare_clerical`).
* **Ids resolve forward.** A retired id names its ``survivor``; :func:`resolve` follows the chain, so an
  id once issued always leads to the person it became part of.
* **History** columns: run_id, seq (one counter across runs), event, the id, other_id, source, record_id,
  detail (compact JSON: counts, causes, reasons, record keys and weights; never a field value). The events
  are described in :mod:`pace_linkage.incremental.ids`.

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
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig
from pace_linkage.engine.blocking import BlockingResult
from pace_linkage.engine.cluster import KEY_SEP
from pace_linkage.engine.linker import Linker
from pace_linkage.engine.model import FSModel
from pace_linkage.errors import LinkageError
from pace_linkage.schema import RECORD_ID, SOURCE

DEFAULT_ID_COLUMN: str = PaceConfig.model_fields["id_column"].default  # the config's default id column
RECORD_HASH = "record_hash"
CLERICAL_COLUMNS = ["source_l", "record_id_l", "source_r", "record_id_r", "decision", "run_id"]
PAIR_KEY_COLUMNS = ["source_l", "record_id_l", "source_r", "record_id_r"]
EVENTS = ("created", "joined", "merged", "split", "record_updated", "record_removed")
STATUSES = ("active", "retired", "empty")
DECISIONS = ("must_link", "cannot_link")
_REASON = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def assignment_columns(id_col: str = DEFAULT_ID_COLUMN) -> list[str]:
    """The state's ``assignments``: each live record's id."""
    return [SOURCE, RECORD_ID, id_col]


def id_columns(id_col: str = DEFAULT_ID_COLUMN) -> list[str]:
    """The state's ``ids``: every id ever issued, its status, survivor and the runs that made and last changed it."""
    return [id_col, "status", "survivor", "created_run", "changed_run"]


def history_columns(id_col: str = DEFAULT_ID_COLUMN) -> list[str]:
    """The state's ``history`` (the event log), as the store's ``id_history`` table and ``id_history.csv``."""
    return ["run_id", "seq", "event", id_col, "other_id", SOURCE, RECORD_ID, "detail"]


def removed_columns(id_col: str = DEFAULT_ID_COLUMN) -> list[str]:
    """A run's removed records: keys, the id they left, the reason and the run; no field value."""
    return [SOURCE, RECORD_ID, id_col, "reason", "run_id"]


# --------------------------------------------------------------------------------------------------
# The state, a run's result, a run's working set
# --------------------------------------------------------------------------------------------------
@dataclass
class State:
    """What the system knows between runs (every frame sorted by its keys, RangeIndex).

    ``records``: live normalised records (every column the linkage reads, plus ``record_hash``), sorted by
    (source, record_id); ``assignments``: (source, record_id, id), one row per record, same order;
    ``ids``: (id, status active|retired|empty, survivor, created_run, changed_run), one row per id ever
    issued (in the order issued: by run, then by id); ``clerical``: (source_l, record_id_l, source_r,
    record_id_r, decision, run_id); ``history``: the event log (:func:`history_columns`). The id column is
    the config's ``id_column``."""

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
    """The outcome of :func:`pace_linkage.incremental.batch.link_batch`.

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


@dataclass
class WorkingSet:
    """The live records after a batch (the state's kept records and the batch's entering ones), with what
    each was before the run. Arrays are per record of ``records``."""

    records: pd.DataFrame  # live records after the batch, sorted by key, RangeIndex
    own: np.ndarray  # the id each record belonged to before the run (None for new records)
    own_code: np.ndarray  # that id as a person code, 0..P-1 (-1 for new records)
    is_batch: np.ndarray  # new or updated in this run
    is_updated: np.ndarray
    counts: pd.DataFrame  # per source: new, updated, unchanged, deleted
    removed: pd.DataFrame  # source, record_id, the id, reason
    deletions_not_found: int


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "seq" else object) for c in columns})


def empty_state(id_column: str = DEFAULT_ID_COLUMN) -> State:
    """The state before anything was linked, with ids in column ``id_column`` (the config's ``id_column``)."""
    return State(
        records=pd.DataFrame({SOURCE: pd.Series(dtype=object), RECORD_ID: pd.Series(dtype=object),
                              RECORD_HASH: pd.Series(dtype=object)}),
        assignments=_empty(assignment_columns(id_column)), ids=_empty(id_columns(id_column)),
        clerical=_empty(CLERICAL_COLUMNS), history=_empty(history_columns(id_column)),
    )


# --------------------------------------------------------------------------------------------------
# Inputs entering the state: records (the columns kept, their hash), deletions, clerical decisions
# --------------------------------------------------------------------------------------------------
def linkage_columns(cfg: PaceConfig) -> list[str]:
    """Every record column the linkage reads (keys, blocking keys, comparison and conflict columns: the
    config's :meth:`Linker.columns <pace_linkage.engine.linker.Linker.columns>`), sorted."""
    return sorted(Linker.from_config(cfg).columns())


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


def prepare_records(batch: pd.DataFrame, cfg: PaceConfig) -> pd.DataFrame:
    """Normalised records ready to enter a state: every linkage column present, keys as text and unique,
    sorted by key, with a fresh ``record_hash``."""
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
    batch = sorted_by_key(batch)
    batch[RECORD_HASH] = record_hash(batch, cfg.fields).to_numpy()
    return batch


def prepare_deletions(deletions: pd.DataFrame | None) -> pd.DataFrame:
    """Deletions (source, record_id, reason: a short lower-case code such as ``deleted`` or
    ``consent_withdrawn``) with keys as text, the last row per key kept."""
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


def pair_keys(f: pd.DataFrame) -> pd.Series:
    """One text key per record pair (left key, separator, right key)."""
    return pd.Series(record_keys(f, "source_l", "record_id_l") + KEY_SEP + record_keys(f, "source_r", "record_id_r"),
                     dtype=object)


def oriented(pairs: pd.DataFrame) -> pd.DataFrame:
    """``pairs`` (the :data:`PAIR_KEY_COLUMNS` and more) with each pair's sides swapped where needed so the left
    key sorts first, the way decisions are kept."""
    out = pairs.copy()
    swap = record_keys(out, "source_l", "record_id_l") > record_keys(out, "source_r", "record_id_r")
    for a, b in (("source_l", "source_r"), ("record_id_l", "record_id_r")):
        la, lb = out[a].to_numpy(dtype=object).copy(), out[b].to_numpy(dtype=object).copy()
        out[a], out[b] = np.where(swap, lb, la), np.where(swap, la, lb)
    return out


def prepare_clerical(state: State, clerical: pd.DataFrame | None, run_id: str) -> tuple[pd.DataFrame, dict]:
    """Stored decisions plus this run's (``clerical``), each with its run id and oriented so the left key
    sorts first; a later decision on a pair replaces the earlier one. Sorted by key pair. Also the counts
    ``clerical_added`` and ``clerical_replaced``."""
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
        if (record_keys(new, "source_l", "record_id_l") == record_keys(new, "source_r", "record_id_r")).any():
            raise LinkageError("incremental: a clerical decision pairs a record with itself")
        new = oriented(new).drop_duplicates()
        if new.duplicated(PAIR_KEY_COLUMNS).any():
            raise LinkageError("incremental: a pair has both must_link and cannot_link in this run's decisions")
        new["run_id"] = run_id
        redecided = np.zeros(len(stored), dtype=bool)
        if len(stored):
            redecided = pair_keys(stored).isin(set(pair_keys(new))).to_numpy()
        counts["clerical_added"] = int(len(new))
        counts["clerical_replaced"] = int(redecided.sum())
        stored = pd.concat([stored[~redecided], new[CLERICAL_COLUMNS]], ignore_index=True) if len(stored) \
            else new[CLERICAL_COLUMNS].reset_index(drop=True)
    if len(stored):
        order = np.lexsort(tuple(stored[c].to_numpy(dtype=str) for c in reversed(PAIR_KEY_COLUMNS)))
        stored = stored.iloc[order].reset_index(drop=True)
    return stored, counts


# --------------------------------------------------------------------------------------------------
# Sorted keys
# --------------------------------------------------------------------------------------------------
def record_keys(frame: pd.DataFrame, source: str = SOURCE, record_id: str = RECORD_ID) -> np.ndarray:
    """One text key per row: source, the cluster key separator, record id (the key ids are hashed from)."""
    return (frame[source].astype(str) + KEY_SEP + frame[record_id].astype(str)).to_numpy(dtype=object)


def key_arrays(frame: pd.DataFrame, source: str = SOURCE, record_id: str = RECORD_ID) -> tuple[np.ndarray, np.ndarray]:
    """The (source, record_id) columns as two object arrays, the form the lookups below take."""
    return frame[source].to_numpy(dtype=object), frame[record_id].to_numpy(dtype=object)


def is_sorted_by_key(src: np.ndarray, rid: np.ndarray) -> bool:
    """Whether keys are strictly increasing in (source, record_id) order (so also unique)."""
    if len(src) < 2:
        return True
    s0, s1, r0, r1 = src[:-1], src[1:], rid[:-1], rid[1:]
    return bool(np.all((s0 < s1) | ((s0 == s1) & (r0 < r1))))


def search_keys(src: np.ndarray, rid: np.ndarray, q_src: np.ndarray, q_rid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def lookup_keys(src: np.ndarray, rid: np.ndarray, q_src: np.ndarray, q_rid: np.ndarray) -> np.ndarray:
    """Position of each query key among sorted keys, -1 when absent."""
    ins, found = search_keys(src, rid, q_src, q_rid)
    return np.where(found, ins, -1)


def sorted_by_key(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame sorted by (source, record_id) as text, with a fresh RangeIndex."""
    order = np.lexsort((frame[RECORD_ID].to_numpy(dtype=str), frame[SOURCE].to_numpy(dtype=str)))
    return frame.iloc[order].reset_index(drop=True)


def compact_json(obj) -> str:
    """The history's ``detail`` text: JSON with sorted keys and no spaces."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


# --------------------------------------------------------------------------------------------------
# Reading ids
# --------------------------------------------------------------------------------------------------
def resolve(ids: pd.DataFrame, pace_id: str, id_column: str = DEFAULT_ID_COLUMN) -> str:
    """The id a ``pace_id`` stands for now: follow ``survivor`` while the id is retired. ``ids``: the
    state's ids, their id in column ``id_column``."""
    survivor = dict(zip(ids[id_column], ids["survivor"], strict=True))
    status = dict(zip(ids[id_column], ids["status"], strict=True))
    if pace_id not in status:
        raise LinkageError(f"resolve: pace_id {pace_id} was never issued")
    seen = {pace_id}
    while status.get(pace_id) == "retired":
        pace_id = survivor[pace_id]
        if pace_id in seen or pace_id not in status:
            raise LinkageError("resolve: the survivor chain of a retired id is broken (cycle or unknown id)")
        seen.add(pace_id)
    return pace_id


def resolve_all(ids: pd.DataFrame, id_column: str = DEFAULT_ID_COLUMN) -> pd.Series:
    """Every issued id -> the id it resolves to (itself unless retired), indexed by the id."""
    pid = ids[id_column].to_numpy(dtype=object)
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


def id_history(state: State, pace_id: str, id_column: str = DEFAULT_ID_COLUMN) -> pd.DataFrame:
    """What ``pace_id`` was, when and why: the events of the id, of the ids merged into it (at any depth)
    and the events naming it as ``other_id`` (split from it, merged into another), in order. The state's
    ids are in column ``id_column``."""
    family = {pace_id}
    ids = state.ids
    retired = ids[ids["status"] == "retired"]
    while True:
        more = set(retired.loc[retired["survivor"].isin(family), id_column]) - family
        if not more:
            break
        family |= more
    h = state.history
    sel = h[id_column].isin(family) | h["other_id"].isin(family)
    return h[sel].sort_values("seq", kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------------
# A state from a full run; comparing two clusterings
# --------------------------------------------------------------------------------------------------
def initial_state(records: pd.DataFrame, clusters, run_id: str, cfg: PaceConfig) -> State:
    """The state after an ordinary full run: ``records`` (normalised) and ``clusters`` (a
    :class:`~pace_linkage.engine.cluster.ClusterResult` or a frame with source, record_id and
    ``cfg.id_column``, else the default id column). The state's ids are in ``cfg.id_column``. Every id is
    ``created`` by ``run_id`` (one ``created`` row per id naming its smallest record, one ``joined`` row per
    other record)."""
    frame = getattr(clusters, "clusters", clusters)
    id_col = cfg.id_column
    given = id_col if id_col in frame.columns else DEFAULT_ID_COLUMN  # the clusters' id column
    if given not in frame.columns:
        raise LinkageError(f"incremental: the clusters have no '{cfg.id_column}' column")
    run_id = str(run_id or "").strip()
    if not run_id:
        raise LinkageError("incremental: run id is empty")
    state = empty_state(id_col)
    rec = prepare_records(records, cfg) if len(records) else records.assign(**{RECORD_HASH: pd.Series(dtype=object)})
    f_sorted = sorted_by_key(frame[[SOURCE, RECORD_ID, given]].astype({SOURCE: str, RECORD_ID: str}))
    pos = lookup_keys(*key_arrays(f_sorted), *key_arrays(rec))
    frame = f_sorted
    if (pos < 0).any() or len(frame) != len(rec):
        raise LinkageError("incremental: the clusters do not cover exactly the records")
    pid = frame[given].to_numpy(dtype=object)[pos]
    if pd.isna(pd.Series(pid, dtype=object)).any():
        raise LinkageError(f"incremental: a record has no {given} in the clusters")
    keys = record_keys(rec)
    labels, uniq = pd.factorize(pd.Series(pid, dtype=object), sort=True)
    order = np.lexsort((keys, labels))
    first = order[np.r_[True, labels[order][1:] != labels[order][:-1]]] if len(order) else order
    founders = np.zeros(len(rec), dtype=bool)
    founders[first] = True
    src, rid = rec[SOURCE].to_numpy(dtype=object), rec[RECORD_ID].to_numpy(dtype=object)
    sizes = np.bincount(labels, minlength=len(uniq))
    created = pd.DataFrame({"event": "created", id_col: pid[first], "other_id": None, SOURCE: src[first],
                            RECORD_ID: rid[first], "detail": [compact_json({"cause": "new_records", "records": int(k)})
                                                              for k in sizes[labels[first]]]})
    created = created.sort_values(id_col, kind="stable")
    joined = pd.DataFrame({"event": "joined", id_col: pid[~founders], "other_id": None, SOURCE: src[~founders],
                           RECORD_ID: rid[~founders], "detail": "{}"})
    history = pd.concat([created, joined], ignore_index=True)
    history.insert(0, "seq", np.arange(len(history), dtype=np.int64))
    history.insert(0, "run_id", run_id)
    ids = pd.DataFrame({id_col: np.asarray(uniq, dtype=object), "status": "active", "survivor": None,
                        "created_run": run_id, "changed_run": run_id})
    return State(records=rec, assignments=pd.DataFrame({SOURCE: src, RECORD_ID: rid, id_col: pid}),
                 ids=ids[id_columns(id_col)] if len(ids) else state.ids, clerical=state.clerical,
                 history=history[history_columns(id_col)] if len(history) else state.history)


def compare_partitions(a: pd.DataFrame, b: pd.DataFrame, id_a: str = DEFAULT_ID_COLUMN,
                       id_b: str = DEFAULT_ID_COLUMN) -> dict:
    """How two clusterings of the same records differ (e.g. linked in batches vs in one go).

    ``a`` and ``b``: frames with source, record_id and an id column. Records present in only one are
    counted (``only_in_a`` / ``only_in_b``) and left out. A record *differs* when its person in ``a`` and
    its person in ``b`` do not hold exactly the same records. ``persons_split``: persons of ``a`` whose
    records are spread over several persons of ``b``; ``persons_merged``: persons of ``b`` gathering
    records from several persons of ``a``. Pairwise precision / recall / F1 treat ``a`` as the prediction
    and ``b`` as the reference (F1 is symmetric). ``differences``: the differing records (keys and both
    ids, sorted), no field value."""
    a = sorted_by_key(a.astype({SOURCE: str, RECORD_ID: str}))
    b = sorted_by_key(b.astype({SOURCE: str, RECORD_ID: str}))
    pos_b = lookup_keys(*key_arrays(b), *key_arrays(a))
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
    diff = sorted_by_key(diff) if len(diff) else diff
    return {
        "records": int(common.sum()), "only_in_a": int((~common).sum()), "only_in_b": only_b,
        "persons_a": int(len(np.unique(ca))), "persons_b": int(len(np.unique(cb))),
        "records_differing": int(differs.sum()),
        "persons_split": int((pairs_ab.groupby("a").size() > 1).sum()),
        "persons_merged": int((pairs_ab.groupby("b").size() > 1).sum()),
        "pairwise": {"tp": tp, "pairs_a": pa, "pairs_b": pb, "precision": precision, "recall": recall, "f1": f1},
        "differences": diff,
    }
