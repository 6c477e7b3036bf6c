"""Incremental linkage: link a new batch of records against the people already known, keeping pace ids.

:func:`link_batch` takes a :class:`~pace_linkage.incremental.state.State` and a batch and returns the next
state, in named steps: classify the batch, score the candidate pairs, cluster the touched part, assign the
persistent ids (:mod:`pace_linkage.incremental.ids`), summarise. Its rules:

* **Classify** each batch record against the state by (source, record_id): *new* (unknown key), *updated*
  (known key, different ``record_hash``: the new version replaces the old one) or *unchanged* (same hash:
  ignored). A deletion (``deletions``: source, record_id, reason such as ``deleted`` or
  ``consent_withdrawn``) removes the record from its person; a record both in the batch and deleted is
  deleted. The removed record's values are dropped from the state; the history keeps only its key, its
  id, the run id and the reason (``record_removed``). A person left with no record gets status ``empty``.
  A deletion does not split the person it leaves (the id's remaining records stay together).
* **Candidate pairs** are blocked over the live records (state minus removed records minus old versions of
  updated ones, plus the batch) with the batch marked *new*: new x new and new x existing pairs only, never
  existing x existing (:meth:`pace_linkage.engine.linker.Linker.block` with ``new``). They are compared on
  the records they involve (``involved_only``: against all live records when a level's verdict reads every
  record, as weighted Jaccard's word weights do) and scored with ``model``; term frequencies come from all
  live records, as in a full run. With no model, or with ``refresh_model``, a model is trained by EM first
  (``cfg.linkage.em.method``; u from random pairs of the live records, m from this batch's candidate
  pairs). Supervised training is not done here.
* **Clustering** takes the part of the graph touched by the batch: the batch records, the records they link
  to (match probability >= threshold), the records named by this run's clerical decisions, and, whole,
  every existing person holding one of those records (plus whatever stored must-link decisions pull in).
  Existing persons are fixed groups: their unchanged records are joined by must-link edges (so the
  constrained merge keeps them together); updated records are free and placed by their new evidence.
  Stored and new clerical decisions are honoured (:meth:`pace_linkage.engine.linker.Linker.cluster`,
  ``must_link`` / ``cannot_link``; person edges come before clerical must-links, so a contradicting
  must-link decision is the one refused and reported as ``clerical_conflict``). A person with a cannot-link
  decision between two of its own records is re-clustered from evidence instead: every pair of its records
  is re-scored (``rescored_pairs``; the only existing x existing comparisons an incremental run makes). The
  rest of the state is untouched: comparing, clustering and id bookkeeping grow with the batch; a few
  linear passes over the state remain (merging the batch into the sorted records, probing blocking keys,
  term frequencies).
* **Clerical decisions**, this run's and the stored ones (kept as
  :func:`pace_linkage.incremental.state.prepare_clerical` says), are honoured in the clustering above
  while both their records are live.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig
from pace_linkage.counting import distinct_ints
from pace_linkage.engine.blocking import BlockingResult, within_group_pairs
from pace_linkage.engine.linker import Linker
from pace_linkage.engine.model import FSModel, check_compatible
from pace_linkage.engine.partition import take_rows
from pace_linkage.errors import LinkageError
from pace_linkage.incremental.ids import (
    CONFLICT_COLUMNS,
    ClusteredPart,
    IdAssignment,
    assign_ids,
    conflicts_by_id,
)
from pace_linkage.incremental.state import (
    PAIR_KEY_COLUMNS,
    RECORD_HASH,
    BatchResult,
    State,
    WorkingSet,
    assignment_columns,
    history_columns,
    id_columns,
    is_sorted_by_key,
    key_arrays,
    lookup_keys,
    prepare_clerical,
    prepare_deletions,
    prepare_records,
    record_hash,
    record_keys,
    removed_columns,
    search_keys,
    sorted_by_key,
)
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, MATCH_WEIGHT, RECORD_ID, RIGHT, RULE, SOURCE


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
    and return the next state (see the module docstring for every rule). The engine's stages run through
    the config's :class:`~pace_linkage.engine.linker.Linker` (its id column and id prefix name the ids).
    ``threshold`` defaults to ``cfg.linkage.threshold``, ``seed`` to ``cfg.seed``; ``duplicate_free`` names
    the duplicate-free sources (default: those the config marks)."""
    clock = _Clock()
    run_id = _check_run_id(state, run_id)
    linker = Linker.from_config(cfg, seed=seed,
                                duplicate_free_sources=None if duplicate_free is None else list(duplicate_free))
    lk = linker.settings
    thr = lk.threshold if threshold is None else float(threshold)
    if model is not None:
        check_compatible(model, lk)
    c = _classify(state, batch, cfg, run_id, deletions, clerical)
    clock.lap("classify")

    rec = c.work.records
    rescored = _rescored_pairs(c, len(lk.blocking))
    s = _score_candidates(linker, rec, c.work.is_batch, rescored, model, refresh_model=refresh_model, clock=clock)

    edges = _links(s, thr)
    part, conflicts, person_edges = _cluster_touched(linker, c, edges, thr)
    clock.lap("cluster")

    new_state, events, ids = assign_ids(c.state, c.work, part, run_id, linker.id_column, linker.id_prefix)
    new_state.clerical = c.decisions
    conflicts = conflicts_by_id(conflicts, part, ids.final, linker.id_prefix)
    clock.lap("ids")

    rule_names = [r.name for r in lk.blocking]
    pairs_out = _keyed_pairs(rec, s.blocked.pairs, s.gamma, s.scored, rule_names) if s.model is not None else \
        pd.DataFrame(columns=PAIR_KEY_COLUMNS + ["blocking_rule", MATCH_WEIGHT, MATCH_PROBABILITY])
    removed = c.work.removed.assign(run_id=run_id)[removed_columns(cfg.id_column)]
    summary = _summary(c.state, new_state, c.work, ids, conflicts, cfg.id_column, {
        "candidate_pairs": int(len(s.blocked.pairs)), "rescored_pairs": int(len(rescored)),
        "links": int(len(edges[0])), "records_clustered": int(len(part.pos)), "person_edges": person_edges,
        "clerical_stored": int(len(c.decisions)), "clerical_active": int(c.positions.active.sum()),
        **c.clerical_counts,
    })
    summary["run_id"] = run_id
    summary["threshold"] = thr
    summary["model_trained"] = s.trained
    clock.lap("outputs")
    return BatchResult(state=new_state, events=events, pairs=pairs_out, model=s.model, model_trained=s.trained,
                       summary=summary, timings=clock.seconds(), conflicts=conflicts, removed=removed,
                       blocking=s.blocked, gamma=s.gamma, scored=s.scored)


class _Clock:
    """Seconds per named step of a run, each step timed from the end of the previous one."""

    def __init__(self) -> None:
        self._start = self._last = time.perf_counter()
        self._laps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self._laps[name] = now - self._last
        self._last = now

    def seconds(self) -> dict[str, float]:
        """The steps' seconds and the ``total``, rounded to 0.1 ms."""
        laps = {**self._laps, "total": time.perf_counter() - self._start}
        return {k: round(v, 4) for k, v in laps.items()}


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
    order), and ``record_hash`` present; its ids in the config's ``id_column``."""
    id_col = cfg.id_column
    for name, have, want in (("assignments", state.assignments, assignment_columns(id_col)),
                             ("ids", state.ids, id_columns(id_col)), ("history", state.history, history_columns(id_col))):
        missing = [c for c in want if c not in have.columns]
        if missing:
            raise LinkageError(f"incremental: the state's {name} have no column(s) {', '.join(missing)} "
                               f"(the config's id_column is '{id_col}')")
    rec, asg = state.records, state.assignments
    if len(rec) != len(asg):
        raise LinkageError("incremental: the state's records and assignments have different lengths")
    if not len(rec):
        return state
    if RECORD_HASH not in rec.columns:
        rec = rec.assign(**{RECORD_HASH: record_hash(rec, cfg.fields).to_numpy()})
    if not isinstance(rec.index, pd.RangeIndex) or not is_sorted_by_key(*key_arrays(rec)):
        rec = sorted_by_key(rec.astype({SOURCE: str, RECORD_ID: str}))
    if not isinstance(asg.index, pd.RangeIndex) or not is_sorted_by_key(*key_arrays(asg)):
        asg = sorted_by_key(asg[assignment_columns(id_col)].astype({SOURCE: str, RECORD_ID: str}))
    if not is_sorted_by_key(*key_arrays(rec)):
        raise LinkageError("incremental: the state repeats a (source, record_id)")
    same = (rec[SOURCE].to_numpy(dtype=object) == asg[SOURCE].to_numpy(dtype=object)) & \
        (rec[RECORD_ID].to_numpy(dtype=object) == asg[RECORD_ID].to_numpy(dtype=object))
    if not same.all():
        raise LinkageError("incremental: the state's assignments do not cover exactly its records")
    if asg[id_col].isna().any():
        raise LinkageError(f"incremental: a record in the state has no {id_col}")
    return State(records=rec, assignments=asg, ids=state.ids, clerical=state.clerical, history=state.history)


# --------------------------------------------------------------------------------------------------
# Classify: the working set, the decisions that apply, the persons re-clustered
# --------------------------------------------------------------------------------------------------
@dataclass
class _Decisions:
    """The stored clerical decisions located in the working set (arrays per decision)."""

    left: np.ndarray  # position of the left record, -1 when not live
    right: np.ndarray  # position of the right record, -1 when not live
    must: np.ndarray  # active must-link
    cannot: np.ndarray  # active cannot-link
    this_run: np.ndarray  # active and made in this run
    active: np.ndarray  # both records live


@dataclass
class _Classified:
    """A batch classified against the state: what every later step of :func:`link_batch` reads."""

    state: State  # the state, checked and in key order
    work: WorkingSet
    decisions: pd.DataFrame  # stored decisions after this run's (the next state's ``clerical``)
    clerical_counts: dict
    positions: _Decisions
    broken_codes: np.ndarray  # persons with a cannot-link between two of their unchanged records
    broken: np.ndarray  # per working-set record: an unchanged record of such a person


def _classify(state: State, batch: pd.DataFrame, cfg: PaceConfig, run_id: str, deletions: pd.DataFrame | None,
              clerical: pd.DataFrame | None) -> _Classified:
    """Check the inputs, build the working set and locate the clerical decisions in it."""
    state = _checked_state(state, cfg)
    batch = prepare_records(batch, cfg)
    dels = prepare_deletions(deletions)
    decisions, clerical_counts = prepare_clerical(state, clerical, run_id)
    work = _working_set(state, batch, dels, cfg.id_column)
    d = _decision_positions(work, decisions, run_id)
    own_code = work.own_code
    kept = ~work.is_batch
    # a cannot-link between two unchanged records of one person: that person is re-clustered from evidence
    cl, cr = d.left[d.cannot], d.right[d.cannot]
    inside = kept[cl] & kept[cr] & (own_code[cl] == own_code[cr]) & (own_code[cl] >= 0)
    broken_codes = distinct_ints(own_code[cl[inside]])
    broken = kept & np.isin(own_code, broken_codes)
    return _Classified(state=state, work=work, decisions=decisions, clerical_counts=clerical_counts, positions=d,
                       broken_codes=broken_codes, broken=broken)


def _decision_positions(work: WorkingSet, decisions: pd.DataFrame, run_id: str) -> _Decisions:
    w_src, w_rid = key_arrays(work.records)
    dl = lookup_keys(w_src, w_rid, *key_arrays(decisions, "source_l", "record_id_l"))
    dr = lookup_keys(w_src, w_rid, *key_arrays(decisions, "source_r", "record_id_r"))
    active = (dl >= 0) & (dr >= 0)
    return _Decisions(left=dl, right=dr, must=(decisions["decision"] == "must_link").to_numpy() & active,
                      cannot=(decisions["decision"] == "cannot_link").to_numpy() & active,
                      this_run=(decisions["run_id"] == run_id).to_numpy() & active, active=active)


def _like(batch: pd.DataFrame, state_records: pd.DataFrame) -> pd.DataFrame:
    """The batch with a column typed as text (object) wherever the state's is (e.g. read back from a
    store), so the two concatenate without guessing a type from all-null columns."""
    cast = {c: object for c in batch.columns if c in state_records.columns
            and state_records[c].dtype == object and batch[c].dtype != object}
    return batch.astype(cast) if cast else batch


def _working_set(state: State, batch: pd.DataFrame, deletions: pd.DataFrame, id_col: str) -> WorkingSet:
    """Classify the batch and build the live records after it: a merge of two sorted key sequences (the
    kept state records and the entering batch records), so the state is never re-sorted."""
    st = state.records
    st_src, st_rid = key_arrays(st)
    st_ids = state.assignments[id_col].to_numpy(dtype=object)
    b_src, b_rid = key_arrays(batch)
    b_pos = lookup_keys(st_src, st_rid, b_src, b_rid)
    known = b_pos >= 0
    same = np.zeros(len(batch), dtype=bool)
    if known.any():
        same[known] = st[RECORD_HASH].to_numpy(dtype=object)[b_pos[known]] == \
            batch[RECORD_HASH].to_numpy(dtype=object)[known]
    d_src, d_rid = key_arrays(deletions)
    d_in_state = lookup_keys(st_src, st_rid, d_src, d_rid)
    d_in_batch = lookup_keys(b_src, b_rid, d_src, d_rid)
    batch_deleted = np.zeros(len(batch), dtype=bool)
    batch_deleted[d_in_batch[d_in_batch >= 0]] = True
    updated = known & ~same & ~batch_deleted
    is_new = ~known & ~batch_deleted
    drop_state = np.zeros(len(st), dtype=bool)
    drop_state[d_in_state[d_in_state >= 0]] = True
    drop_state[b_pos[updated]] = True

    found = d_in_state >= 0
    removed = pd.DataFrame({SOURCE: d_src[found], RECORD_ID: d_rid[found], id_col: st_ids[d_in_state[found]],
                            "reason": deletions["reason"].to_numpy(dtype=object)[found]})
    removed = sorted_by_key(removed) if len(removed) else removed

    keep = np.flatnonzero(~drop_state)
    enter = np.flatnonzero(is_new | updated)
    # each entering record's place among the kept ones
    ins = search_keys(st_src[keep], st_rid[keep], b_src[enter], b_rid[enter])[0] if len(keep) else \
        np.zeros(len(enter), np.int64)
    records, at_batch, from_batch = _merged_records(st, batch, keep, enter, ins)
    prev = np.full(len(batch), None, dtype=object)
    prev[updated] = st_ids[b_pos[updated]]
    own = np.empty(len(records), dtype=object)
    own[~from_batch] = st_ids[keep]
    own[at_batch] = prev[enter]
    is_upd = np.zeros(len(records), dtype=bool)
    is_upd[at_batch] = updated[enter]

    def per_source(values, mask) -> pd.Series:
        return pd.Series(np.asarray(values, dtype=object)[mask], dtype=object).value_counts()

    counts = pd.DataFrame({
        "new": per_source(b_src, is_new), "updated": per_source(b_src, updated),
        "unchanged": per_source(b_src, known & same & ~batch_deleted),
        "deleted": per_source(d_src, found | (d_in_batch >= 0)),
    }).fillna(0).astype(np.int64)
    return WorkingSet(records=records, own=own, own_code=pd.factorize(own, use_na_sentinel=True)[0].astype(np.int64),
                      is_batch=from_batch, is_updated=is_upd, counts=counts, removed=removed,
                      deletions_not_found=int(((d_in_state < 0) & (d_in_batch < 0)).sum()))


def _merged_records(st: pd.DataFrame, batch: pd.DataFrame, keep: np.ndarray, enter: np.ndarray,
                    ins: np.ndarray) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The kept state rows and the entering batch rows (``ins``: each one's place among the kept ones) as
    one frame in key order; also each entering row's position and the mask of positions from the batch."""
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
    return records, at_batch, from_batch


# --------------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------------
@dataclass
class _Scored:
    blocked: BlockingResult  # candidate pairs: new x new and new x existing
    gamma: pd.DataFrame  # their comparison levels
    scored: pd.DataFrame  # their match weights and probabilities
    scored_rescored: pd.DataFrame | None  # the re-scored pairs' match weights and probabilities
    model: FSModel | None
    trained: bool


def _rescored_pairs(c: _Classified, n_rules: int) -> pd.DataFrame:
    """Every pair of records of a person re-clustered from evidence, under rule code ``n_rules`` (shown as
    ``rescored_person``)."""
    extra_l, extra_r = within_group_pairs(np.where(c.broken, c.work.own_code, -1), "rescored_person", 1 << 62)
    return pd.DataFrame({LEFT: np.minimum(extra_l, extra_r).astype(np.int32),
                         RIGHT: np.maximum(extra_l, extra_r).astype(np.int32),
                         RULE: np.full(len(extra_l), n_rules, np.int8)})


def _score_candidates(linker: Linker, rec: pd.DataFrame, new: np.ndarray, rescored: pd.DataFrame,
                      model: FSModel | None, *, refresh_model: bool, clock: _Clock) -> _Scored:
    """The engine's part of a batch, through ``linker``'s steps: block the live records ``rec`` (in key
    order, positions 0..N-1, as :meth:`~pace_linkage.engine.linker.Linker.prepare` leaves records) with
    ``new`` marking the batch (new x new and new x existing pairs only); compare the candidate and
    ``rescored`` pairs on the records they involve (``involved_only``), so the cost follows the batch, not
    the state; train a model when there is none (or ``refresh_model``), always unsupervised; score both
    sets of pairs. Term frequencies (and training) read all live records. Times the steps block, compare,
    train and score on ``clock``."""
    blocked = linker.block(rec, new) if len(rec) else \
        BlockingResult(pd.DataFrame({LEFT: np.empty(0, np.int32), RIGHT: np.empty(0, np.int32),
                                     RULE: np.empty(0, np.int8)}), pd.DataFrame())
    clock.lap("block")

    compared = linker.compare(rec, blocked.pairs, involved_only=True)
    gamma_extra = linker.compare(rec, rescored, involved_only=True).gamma if len(rescored) else None
    ctx = linker.context(rec)  # scoring's term frequencies (and training) read all live records
    clock.lap("compare")

    trained = False
    if model is None or refresh_model:
        if len(blocked.pairs) or model is None and len(rescored):
            model = linker.train(ctx, compared.counts, training="unsupervised")
            trained = True
    clock.lap("train")

    if model is None:
        if len(rescored):
            raise LinkageError("incremental: re-scoring a person split by a cannot-link decision needs a model")
        scored = pd.DataFrame({LEFT: blocked.pairs[LEFT], RIGHT: blocked.pairs[RIGHT], RULE: blocked.pairs[RULE],
                               MATCH_WEIGHT: np.zeros(0), MATCH_PROBABILITY: np.zeros(0)})
    else:
        scored = linker.score(ctx, blocked.pairs, compared.gamma, model)
    scored_extra = linker.score(ctx, rescored, gamma_extra, model) if len(rescored) else None
    ctx.release()
    clock.lap("score")
    return _Scored(blocked=blocked, gamma=compared.gamma, scored=scored, scored_rescored=scored_extra, model=model,
                   trained=trained)


def _links(s: _Scored, thr: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Edges >= threshold (new pairs and re-scored pairs of persons split by a decision): l, r, weight,
    probability."""
    frames = [s.scored] + ([s.scored_rescored] if s.scored_rescored is not None else [])
    e_l = np.concatenate([f[LEFT].to_numpy(np.int64) for f in frames])
    e_r = np.concatenate([f[RIGHT].to_numpy(np.int64) for f in frames])
    e_w = np.concatenate([f[MATCH_WEIGHT].to_numpy(np.float64) for f in frames])
    e_p = np.concatenate([f[MATCH_PROBABILITY].to_numpy(np.float64) for f in frames])
    link = e_p >= thr
    return e_l[link], e_r[link], e_w[link], e_p[link]


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
# Clustering the touched part
# --------------------------------------------------------------------------------------------------
def _touched(c: _Classified, e_l: np.ndarray, e_r: np.ndarray) -> np.ndarray:
    """Per working-set record: touched by the batch (module docstring: batch records, their links, this
    run's decisions, whole persons holding any of those, what stored must-links pull in)."""
    own_code, d = c.work.own_code, c.positions
    touched = c.work.is_batch | c.broken
    for ends in (e_l, e_r, d.left[d.this_run], d.right[d.this_run]):
        touched[ends] = True
    ml, mr = d.left[d.must], d.right[d.must]
    for _ in range(len(own_code) + 1):  # whole persons, and whatever stored must-links pull in
        touched |= np.isin(own_code, distinct_ints(own_code[touched & (own_code >= 0)]))
        pull = touched[ml] ^ touched[mr]
        if not pull.any():
            break
        touched[ml[pull]] = True
        touched[mr[pull]] = True
    return touched


def _cluster_touched(linker: Linker, c: _Classified, edges: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                     thr: float) -> tuple[ClusteredPart, pd.DataFrame, int]:
    """Cluster the records the batch touches (module docstring) with ``linker``, at ``thr`` only (persistent
    ids exist at the chosen threshold). Returns the touched part, the conflicts and the number of person
    edges."""
    rec, work, d, settings = c.work.records, c.work, c.positions, linker.settings.clustering
    own_code = work.own_code
    e_l, e_r, e_w, e_p = edges
    kept = ~work.is_batch
    touched = _touched(c, e_l, e_r)
    ml, mr = d.left[d.must], d.right[d.must]
    pos = np.flatnonzero(touched)
    local = np.full(len(rec), -1, dtype=np.int64)
    local[pos] = np.arange(len(pos))
    sub = take_rows(rec, pos, [SOURCE, RECORD_ID, *settings.conflict_fields]) if len(pos) else None
    t = ClusteredPart(pos=pos, labels=np.zeros(len(pos), np.int64),
                      keys=record_keys(sub) if len(pos) else np.empty(0, dtype=object), person=own_code[pos],
                      kept=kept[pos], updated=work.is_updated[pos], batch=work.is_batch[pos],
                      edges=(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0)), reclustered=c.broken_codes)
    if not len(pos):
        return t, pd.DataFrame(columns=CONFLICT_COLUMNS), 0

    # person edges: each person's unchanged records tied to its first one (not for persons re-clustered)
    tied = pos[kept[pos] & (own_code[pos] >= 0) & ~c.broken[pos]]
    first = pd.Series(tied).groupby(own_code[tied]).transform("min").to_numpy()
    star = tied != first
    m_in = touched[ml] & touched[mr]
    must_l = np.r_[local[first[star]], local[ml[m_in]]]
    must_r = np.r_[local[tied[star]], local[mr[m_in]]]
    cl, cr = d.left[d.cannot], d.right[d.cannot]
    c_in = touched[cl] & touched[cr]
    sub_scored = pd.DataFrame({LEFT: local[e_l], RIGHT: local[e_r], MATCH_WEIGHT: e_w, MATCH_PROBABILITY: e_p})
    res = linker.cluster(sub, sub_scored, thr, named=False, must_link=(must_l, must_r) if len(must_l) else None,
                         cannot_link=(local[cl[c_in]], local[cr[c_in]]) if c_in.any() else None)
    t.labels = pd.factorize(res.clusters[linker.id_column], sort=True)[0].astype(np.int64)
    t.edges = (np.r_[local[e_l], local[ml[m_in]]], np.r_[local[e_r], local[mr[m_in]]],
               np.r_[e_w, np.full(int(m_in.sum()), np.nan)])
    return t, res.conflicts, int(star.sum())


# --------------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------------
def _summary(before: State, after: State, work: WorkingSet, ids: IdAssignment, conflicts: pd.DataFrame,
             id_col: str, counts: dict) -> dict:
    """Per source: records new / updated / unchanged / deleted, new records that joined an existing
    person, new persons holding a batch record of the source; totals for the run."""
    src = after.records[SOURCE].to_numpy()
    final = ids.final
    new_ids = set(ids.new_ids.values())
    b = work.is_batch
    fresh = np.flatnonzero(b & ~work.is_updated)
    joined = pd.Series(src[fresh[pd.Series(final[fresh], dtype=object).isin(before.ids[id_col]).to_numpy()]])
    in_new = pd.DataFrame({SOURCE: src[b], "id": final[b]})
    in_new = in_new[in_new["id"].isin(new_ids)].drop_duplicates()
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
        "merges": len(ids.merges), "splits": ids.splits, "persons_emptied": len(ids.emptied),
        **counts,
        "clerical_conflicts": int((conflicts["kind"] == "clerical_conflict").sum()) if len(conflicts) else 0,
    }
    return {"by_source": {s: {k: int(v) for k, v in row.items()} for s, row in by_source.iterrows()},
            "totals": totals}
