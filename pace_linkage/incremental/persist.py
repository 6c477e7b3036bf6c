"""Incremental linkage's state in the central store, and the files an incremental run reads.

:mod:`pace_linkage.incremental.batch` works on a :class:`~pace_linkage.incremental.state.State` of frames;
this module maps it to the store's tables (:data:`pace_linkage.store.database.STATE_TABLES`, replaced whole by
each incremental run, and :data:`pace_linkage.store.database.LOG_TABLES`, appended per run id) and reads the
deliveries' side files:

* ``state_records`` / ``state_assignments`` / ``state_ids`` / ``state_clerical``: the state's frames as they
  are (the clerical decisions' ``run_id`` is stored as ``decided_run``: ``run_id`` is the store's own
  column). ``state_model``: one row, the model as JSON (:meth:`FSModel.to_json`), so later runs reuse it.
* ``id_history``: the event log (the rows this run added); ``removed_records``: records removed this run
  (keys, id, reason, run id: no field values, so the history of a deleted record is kept apart from the
  shared data).
* ``deletions.csv`` in a delivery folder: ``source, record_id, reason`` (reason ``deleted`` or
  ``consent_withdrawn`` or another lower-case word; blank = ``deleted``).
* clerical decisions: review's ``clerical.csv`` (``source_l, record_id_l, source_r, record_id_r, label`` with
  ``match`` / ``non-match``), or the same with a ``decision`` column (``must_link`` / ``cannot_link``).
* the store's ``labels`` (given in the workbench with ``--store``, :func:`label_decisions`): an incremental run
  takes the match / non-match labels no earlier incremental run applied as this run's clerical decisions, just
  as ``--clerical`` gives them (the file wins on a pair both name). Unsure labels are left out, as in
  ``clerical.csv``; of the rest, a pair's latest label counts. The number of the last label read is kept in the
  run's metadata (``labels_applied``), so the next run applies only labels given since.

Stored values come back with the database's types; :func:`load_state` casts the record columns back to the
dtypes a freshly normalised batch has (``like``), so hashes and comparisons are unchanged by the round trip.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pace_linkage.engine.model import FSModel
from pace_linkage.errors import InputError
from pace_linkage.incremental.state import (
    CLERICAL_COLUMNS,
    DEFAULT_ID_COLUMN,
    PAIR_KEY_COLUMNS,
    RECORD_HASH,
    BatchResult,
    State,
    empty_state,
    history_columns,
    oriented,
)
from pace_linkage.schema import RECORD_ID, SOURCE
from pace_linkage.store.base import LABELS, StateVersion

DELETIONS_FILE = "deletions.csv"
LABELS_APPLIED = "labels_applied"  # the run metadata key: the number (seq) of the last store label applied
_LABEL_TO_DECISION = {"match": "must_link", "non-match": "cannot_link",
                      "must_link": "must_link", "cannot_link": "cannot_link"}


def state_tables(state: State, model: FSModel | None) -> dict[str, pd.DataFrame]:
    """The state as the store's state tables (history goes to the log, see :func:`log_tables`)."""
    tables = {"state_records": state.records, "state_assignments": state.assignments, "state_ids": state.ids,
              "state_clerical": state.clerical.rename(columns={"run_id": "decided_run"})}
    if model is not None:
        tables["state_model"] = pd.DataFrame({"model_json": [model.to_json()]})
    return tables


def log_tables(events: pd.DataFrame, removed: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """This run's rows of the append-only logs (the store adds ``run_id`` itself)."""
    return {"id_history": events.drop(columns=["run_id"], errors="ignore"),
            "removed_records": removed.drop(columns=["run_id"], errors="ignore")}


def _cast_like(frame: pd.DataFrame, like: pd.DataFrame | None) -> pd.DataFrame:
    if like is None or frame.empty:
        return frame
    out = frame.copy()
    for c in out.columns:
        if c not in like.columns:
            continue
        want = like[c].dtype
        if str(want) == str(out[c].dtype):
            continue
        col = out[c]
        if pd.api.types.is_datetime64_any_dtype(col):  # a DATE came back as a timestamp: ISO text as normalised
            col = col.dt.strftime("%Y-%m-%d")
        out[c] = col.astype(object).where(col.notna(), None).astype(want)
    return out


def load_state(store, like: pd.DataFrame | None = None,
               id_column: str = DEFAULT_ID_COLUMN) -> tuple[State, FSModel | None]:
    """The state and model an earlier incremental run left in ``store`` (an open
    :class:`pace_linkage.store.database.Store`), or an empty state and no model. Ids are in column
    ``id_column`` (the config's ``id_column``, as the runs that wrote the state had it)."""
    tables = store.read_state()
    empty = empty_state(id_column)
    if "state_ids" not in tables:
        return empty, None
    if id_column not in tables["state_ids"].columns:
        raise InputError(f"store {store.location}: the incremental state has no id column '{id_column}' (the "
                         "config's id_column): it was written with another one")
    history = store.read("id_history")[history_columns(id_column)] if store.has_table("id_history") \
        else empty.history
    clerical = tables.get("state_clerical")
    clerical = clerical.rename(columns={"decided_run": "run_id"})[CLERICAL_COLUMNS] if clerical is not None \
        else empty.clerical
    state = State(
        records=_cast_like(tables["state_records"], like).reset_index(drop=True),
        assignments=tables.get("state_assignments", empty.assignments).reset_index(drop=True),
        ids=tables["state_ids"].reset_index(drop=True),
        clerical=clerical.reset_index(drop=True),
        history=history.reset_index(drop=True),
    )
    model = None
    m = tables.get("state_model")
    if m is not None and len(m):
        model = FSModel.from_json(str(m["model_json"].iloc[-1]))
    return state, model


def _read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, ValueError, UnicodeDecodeError):
        raise InputError(f"{path}: cannot be read as UTF-8 CSV") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (expected {', '.join(required)})")
    return frame


def read_deletions(path: Path) -> pd.DataFrame | None:
    """``deletions.csv`` (source, record_id[, reason]) or None when the file does not exist."""
    path = Path(path)
    if not path.exists():
        return None
    frame = _read_csv(path, [SOURCE, RECORD_ID])
    reason = frame["reason"].str.strip().str.lower() if "reason" in frame.columns else pd.Series("", index=frame.index)
    out = pd.DataFrame({SOURCE: frame[SOURCE].str.strip(), RECORD_ID: frame[RECORD_ID].str.strip(),
                        "reason": reason.where(reason != "", "deleted")})
    bad = out.index[(out[SOURCE] == "") | (out[RECORD_ID] == "")]
    if len(bad):
        raise InputError(f"{path}: row {int(bad[0]) + 2}: source and record_id must not be blank")
    return out


def read_clerical_decisions(path: Path) -> pd.DataFrame:
    """Clerical decisions as (source_l, record_id_l, source_r, record_id_r, decision): review's clerical.csv
    (label match / non-match) or a file with a ``decision`` column; unsure or blank labels are left out."""
    from pace_linkage.evaluate.runfolder import unneutralise

    path = Path(path)
    keys = PAIR_KEY_COLUMNS
    frame = _read_csv(path, keys)
    col = "decision" if "decision" in frame.columns else "label" if "label" in frame.columns else None
    if col is None:
        raise InputError(f"{path}: missing column label (match / non-match) or decision (must_link / cannot_link)")
    value = frame[col].str.strip().str.lower()
    decided = value.map(_LABEL_TO_DECISION)
    unknown = value[(value != "") & (value != "unsure") & decided.isna()]
    if len(unknown):
        raise InputError(f"{path}: row {int(unknown.index[0]) + 2}, column {col}: not one of "
                         f"{', '.join(sorted(_LABEL_TO_DECISION))}")
    keep = decided.notna()
    out = frame.loc[keep, keys].apply(lambda s: unneutralise(s.str.strip()))
    out["decision"] = decided[keep].to_numpy()
    return out.reset_index(drop=True)


def label_decisions(store, version: StateVersion) -> tuple[pd.DataFrame, int]:
    """The store's labels (an open :class:`~pace_linkage.store.base.Store`) that the incremental run at
    ``version`` (the state this run read) and those before it have not applied, as clerical decisions (pair
    keys, ``decision``; a pair's latest match / non-match label, unsure ones left out), and the number of the
    last label read (to record as :data:`LABELS_APPLIED`)."""
    info = store.run_info(version.run_id) if version.run_id else None
    applied = int((info or {}).get("meta", {}).get(LABELS_APPLIED, 0))
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in [*PAIR_KEY_COLUMNS, "decision"]})
    if not store.has_table(LABELS):
        return empty, applied
    labels = store.read(LABELS)
    seen = max(applied, int(labels["seq"].max())) if len(labels) else applied
    new = labels[(labels["seq"] > applied) & labels["label"].isin(["match", "non-match"])]
    if new.empty:
        return empty, seen
    latest = oriented(new.sort_values("seq", kind="stable")).drop_duplicates(PAIR_KEY_COLUMNS, keep="last")
    out = latest[PAIR_KEY_COLUMNS].astype(str).assign(decision=latest["label"].map(_LABEL_TO_DECISION).to_numpy())
    return out.reset_index(drop=True), seen


def with_labels(labels: pd.DataFrame, clerical: pd.DataFrame | None) -> pd.DataFrame | None:
    """This run's clerical decisions: the store's ``labels`` (:func:`label_decisions`) and the ``--clerical``
    file's, the file's winning on a pair both name."""
    if clerical is None or clerical.empty:
        return labels if len(labels) else clerical
    if labels.empty:
        return clerical
    both = oriented(pd.concat([labels, clerical[[*PAIR_KEY_COLUMNS, "decision"]]], ignore_index=True))
    return both.drop_duplicates(PAIR_KEY_COLUMNS, keep="last").reset_index(drop=True)


def run_results(result: BatchResult, cfg, threshold: float, batches, failures, timings: dict,
                key_id: str | None = None):
    """A :class:`~pace_linkage.evaluate.metrics.RunResults` for an incremental run, so the usual metrics, report and
    outputs apply: ``records`` and ``clusters`` are every live record after the run (its persons, with their
    persistent ids); blocking, gamma and scores are this run's candidate pairs (new x new, new x existing),
    re-indexed to those records."""
    from pace_linkage.engine.blocking import BlockingResult
    from pace_linkage.engine.cluster import ClusterResult
    from pace_linkage.errors import LinkageError
    from pace_linkage.evaluate.metrics import RunResults
    from pace_linkage.schema import LEFT, MATCH_PROBABILITY, MATCH_WEIGHT, RIGHT, RULE

    if result.model is None:
        raise LinkageError("incremental: nothing to link yet (no records and no stored model)")
    state = result.state
    records = state.records.drop(columns=[RECORD_HASH], errors="ignore").reset_index(drop=True)
    position = pd.Series(range(len(records)), index=pd.MultiIndex.from_frame(records[[SOURCE, RECORD_ID]]))
    pairs = result.pairs
    left = position.reindex(pd.MultiIndex.from_frame(pairs[["source_l", "record_id_l"]])).to_numpy()
    right = position.reindex(pd.MultiIndex.from_frame(pairs[["source_r", "record_id_r"]])).to_numpy()
    found = ~(pd.isna(left) | pd.isna(right))
    pairs = pairs.loc[found].reset_index(drop=True)
    rules = [r.name for r in cfg.linkage.blocking]
    rule_code = pairs["blocking_rule"].map({n: i for i, n in enumerate(rules)}).fillna(len(rules)).astype("int8")
    lr = pd.DataFrame({LEFT: left[found].astype("int32"), RIGHT: right[found].astype("int32"),
                       RULE: rule_code.to_numpy()})
    gamma = pairs[[c for c in pairs.columns if c.startswith("gamma_")]].rename(columns=lambda c: c[len("gamma_"):])
    scored = pd.concat([lr, pairs[[MATCH_WEIGHT, MATCH_PROBABILITY]]], axis=1)
    stats = result.blocking.stats if result.blocking is not None else pd.DataFrame(
        columns=["rule", "pairs_generated", "pairs_added"])
    id_col = cfg.id_column
    clusters = state.assignments.reset_index(drop=True)  # source, record_id, the id column
    sizes = clusters[id_col].value_counts().to_numpy()
    cstats = {"records": int(len(clusters)), "candidate_pairs": int(len(lr)),
              id_col: {"threshold": float(threshold), "edges": int((scored[MATCH_PROBABILITY] >= threshold).sum()),
                       "clusters": int(len(sizes)), "singletons": int((sizes == 1).sum()),
                       "largest_cluster": int(sizes.max()) if len(sizes) else 0,
                       "conflicts": int(len(result.conflicts)), "edges_cut": 0}}
    return RunResults(cfg=cfg, threshold=threshold, batches=batches, failures=failures, records=records,
                      blocking=BlockingResult(pairs=lr, stats=stats), gamma=gamma, model=result.model,
                      scored=scored, clusters=ClusterResult(clusters=clusters, conflicts=result.conflicts, stats=cstats),
                      timings=timings, key_id=key_id, reclusterable=False)


def change_metrics(result: BatchResult) -> dict:
    """What changed in this run, for metrics.json and the report: the summary of
    :func:`pace_linkage.incremental.batch.link_batch` and the events by kind (counts only)."""
    ev = result.events
    by_event = ev["event"].value_counts().sort_index() if len(ev) else pd.Series(dtype="int64")
    by_source = {}
    if len(ev):
        t = ev.dropna(subset=[SOURCE]).groupby([SOURCE, "event"]).size().unstack(fill_value=0)
        by_source = {str(s): {str(k): int(v) for k, v in row.items()} for s, row in t.iterrows()}
    return {**result.summary, "events": {str(k): int(v) for k, v in by_event.items()},
            "events_by_source": by_source, "timings_seconds": dict(result.timings)}
