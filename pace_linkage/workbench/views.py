"""What the workbench shows, as plain data: pure functions over a finished run folder.

Every answer is a JSON-ready dict (no numpy types, a deterministic order). Record ids are shown: the analyst is
entitled to them, and the workbench serves only the analyst's own browser; nothing here is logged.

* :func:`figures_at`: the threshold curve's row at any threshold (:mod:`pace_linkage.evaluate.curve`), the
  clusters made as the run makes them.
* :func:`waterfall`: a scored pair's comparisons, each level's label and weight (``log2(m / u)``), the prior, and
  what the stored weight holds beyond them (term-frequency adjustments); when the workbench was given the
  extracts, each comparison's normalised values on both sides and the context fields'
  (:mod:`pace_linkage.workbench.values`), else a note that no values are loaded.
* :func:`cluster_view`: a cluster found by its pace id or one record's key, its records and the scored pairs
  between them, whether each links at the threshold, and the conflicts the run reported for it.
* :func:`by_partner`: per partner, what it holds and how well it links (see the function).
* :func:`label_queue` / :func:`save_label`: pairs near the threshold to label (match, non-match, unsure), drawn
  with the clerical review's strata. Every label is kept in the run folder's labels.csv, and the decisions in its
  clerical.csv, which a re-clustering (``recluster --clerical``) and the next incremental run (``--clerical``)
  honour: match = must-link, non-match = cannot-link. Both are written atomically, 0600, the manifest updated.

With a central store (``store``: its URL; the workbench opens it for each read or write, never holding it):
:func:`cluster_view` adds the history of the cluster's persistent ids across incremental runs
(:mod:`pace_linkage.workbench.history`; the store's id history is read once: restart the workbench to see
runs made since), and :func:`save_label` first appends the label to the store's ``labels`` table (one
transaction; nothing is kept if the store refuses it), which the next incremental run honours as it honours
``--clerical``. Without a store nothing touches one.
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig
from pace_linkage.engine.model import FSModel
from pace_linkage.errors import InputError, LinkageError
from pace_linkage.evaluate import curve, review
from pace_linkage.evaluate.recluster import Reclusterer
from pace_linkage.evaluate.runfolder import PAIR_KEYS, RunData, load_run
from pace_linkage.evaluate.tune import add_to_run
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, MATCH_WEIGHT, RECORD_ID, RIGHT, SOURCE
from pace_linkage.store.database import open_store, parse_url
from pace_linkage.store.outputs import csv_bytes
from pace_linkage.workbench import history
from pace_linkage.workbench.refusals import refused_links
from pace_linkage.workbench.values import RecordValues, pair_values, record_values

LABELS = ("match", "non-match", "unsure")
LABELS_NAME = "labels.csv"  # every label given in the workbench, unsure ones too (clerical.csv: the decisions)
QUEUE = 200  # pairs offered for labelling, drawn around the threshold with the review's strata


@dataclass
class Workbench:
    """A finished run folder, loaded once, and what the pages ask of it at the chosen threshold."""

    run: RunData
    model: FSModel | None
    clustering: Reclusterer
    inputs: curve.CurveInputs | None  # set by open, over the workbench's own clustering
    threshold: float
    store: str | None = None
    cache: dict = field(default_factory=dict)
    values: RecordValues | None = None  # the records' normalised values, when the extracts were given
    saving: threading.Lock = field(default_factory=threading.Lock)  # one label at a time (requests run in threads)
    curving: threading.Lock = field(default_factory=threading.Lock)  # the fine curve is made once

    @classmethod
    def open(cls, run_dir: Path, records: pd.DataFrame | None = None, cfg: PaceConfig | None = None,
             store: str | None = None, truth: pd.DataFrame | None = None) -> Workbench:
        """The run folder ``run_dir``; with ``records`` (the extracts read and normalised with ``cfg``) its
        records' values too (:mod:`pace_linkage.workbench.values`); with ``store``, the store at that URL, which
        must exist; with ``truth`` (:func:`pace_linkage.evaluate.metrics.load_truth`), the figures measured."""
        if store is not None:
            parse_url(store)  # a bad location is refused before the run is read
        run = load_run(Path(run_dir))
        if run.threshold is None:
            raise InputError(f"{Path(run_dir) / 'metrics.json'}: no run threshold recorded")
        if store is not None:
            if not str(run.manifest.get("run_id") or ""):
                raise InputError(f"{run.path / 'manifest.json'}: no run id recorded (labels in the store name it)")
            open_store(store, create=False).close()  # one line if it cannot be opened
        model = None
        if "model.json" in run.manifest.get("files", {}):
            try:
                model = FSModel.load(run.path / "model.json")
            except LinkageError:
                raise InputError(f"{run.path / 'model.json'}: cannot be read as the run's model") from None
        values = None if records is None or cfg is None else record_values(run, records, cfg)
        bench = cls(run, model, Reclusterer.load(run), None, float(run.threshold), store, values=values)
        bench.inputs = curve.folder_inputs(run, truth, labels_at=bench.labels_at)  # one clustering, its cache shared
        return bench

    def labels_at(self, threshold: float) -> np.ndarray:
        key = ("labels", float(threshold))
        if key not in self.cache:
            held = [k for k in list(self.cache) if isinstance(k, tuple) and k[0] == "labels"]  # a copy: threads
            for k in held[:-16]:  # a slider visits many thresholds: keep the latest few (and nothing else goes)
                self.cache.pop(k, None)  # requests run in threads: another may have dropped it
            self.cache[key] = self.clustering.labels(float(threshold))
        return self.cache[key]


def plain(row: dict) -> dict:
    """``row`` JSON-ready: numpy numbers as Python's, floats rounded to 6 places, a non-finite float as None."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else
                round(float(v), 6) if isinstance(v, float | np.floating) else
                int(v) if isinstance(v, int | np.integer) else v) for k, v in row.items()}


def curve_rows(bench: Workbench) -> list[dict]:
    """The threshold curve on the fine grid (estimated, and measured if the run had truth), made once (the
    application starts making it as it starts: a clustering at each of the grid's thresholds)."""
    with bench.curving:
        if "curve" not in bench.cache:
            frame = curve.threshold_curve(bench.inputs, curve.FINE_GRID)
            bench.cache["curve"] = [plain(r) for r in frame.to_dict(orient="records")]
    return bench.cache["curve"]


def figures_at(bench: Workbench, threshold: float) -> dict:
    """The curve's figures at ``threshold`` (strictly between 0 and 1)."""
    if not 0 < threshold < 1:
        raise InputError("threshold: must be strictly between 0 and 1")
    rows = curve.threshold_curve(bench.inputs, [threshold]).to_dict(orient="records")  # ints stay ints
    return plain(next(r for r in rows if r["threshold"] == threshold))


def record_key(run: RunData, position: int) -> dict:
    """The source and record id of the run's record at ``position``."""
    return {"source": str(run.records[SOURCE].iat[position]), "record_id": str(run.records[RECORD_ID].iat[position])}


def waterfall(bench: Workbench, pair: int) -> dict:
    """The waterfall of scored pair number ``pair`` (its row in pairs.parquet)."""
    pairs = bench.run.pairs
    if not 0 <= pair < len(pairs):
        raise InputError(f"pair: no scored pair number {pair}")
    rows = []
    total = float(pairs[MATCH_WEIGHT].iat[pair]) if MATCH_WEIGHT in pairs.columns else math.nan
    if bench.model is not None:
        rows.append({"comparison": "prior", "level": "prior match probability", "weight": bench.model.prior_weight})
        for comp in bench.model.comparisons:
            column = f"gamma_{comp.name}"
            if column not in pairs.columns:
                continue
            g = int(pairs[column].iat[pair])
            weight = 0.0 if g < 0 else float(np.log2(comp.m[g] / comp.u[g]))
            rows.append({"comparison": comp.name, "level": "null" if g < 0 else comp.labels[g], "weight": weight})
        rest = total - sum(r["weight"] for r in rows)
        if math.isfinite(rest) and abs(rest) > 1e-6:
            rows.append({"comparison": "term frequency", "level": "adjustments for common and rare values",
                         "weight": rest})
    left, right = int(pairs[LEFT].iat[pair]), int(pairs[RIGHT].iat[pair])
    values = pair_values(bench.values, left, right)
    for r in rows:  # each comparison's field, its values side by side
        r.update(values.get("compared", {}).get(r["comparison"], {}))
    return {"pair": pair, "left": record_key(bench.run, left), "right": record_key(bench.run, right),
            "blocking_rule": str(pairs["blocking_rule"].iat[pair]) if "blocking_rule" in pairs.columns else None,
            "match_weight": total, "match_probability": float(pairs[MATCH_PROBABILITY].iat[pair]),
            "rows": [plain(r) for r in rows], "values_loaded": values["values_loaded"],
            "values_note": values["values_note"], **({"context": values["context"]} if "context" in values else {})}


def _find(bench: Workbench, query: str) -> int | None:
    """A record position from ``source/record_id``, or any record of the cluster with pace id ``query``."""
    run = bench.run
    if "/" in query:
        source, record_id = query.split("/", 1)
        hit = np.flatnonzero((run.records[SOURCE].to_numpy() == source) & (run.records[RECORD_ID].to_numpy() == record_id))
        return int(hit[0]) if len(hit) else None
    hit = np.flatnonzero(_run_ids(bench) == query)
    return int(hit[0]) if len(hit) else None


def _run_ids(bench: Workbench) -> np.ndarray:
    """Each record's pace id in the run (clusters.csv's id column), read once."""
    if "run_ids" not in bench.cache:
        bench.cache["run_ids"] = pd.read_csv(bench.run.path / "clusters.csv", dtype=str, usecols=[2],
                                             keep_default_na=False).iloc[:, 0].to_numpy()
    return bench.cache["run_ids"]


def _stored_history(bench: Workbench) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The store's ``id_history`` and ``state_ids`` (empty when no incremental run wrote them), read once."""
    if "store_history" not in bench.cache:
        with open_store(bench.store, create=False) as st:
            found = st.has_table("id_history") and st.has_table("state_ids")
            bench.cache["store_history"] = (st.read("id_history"), st.read("state_ids").drop(columns=["run_id"])) \
                if found else (pd.DataFrame(), pd.DataFrame())
    return bench.cache["store_history"]


def cluster_history(bench: Workbench, run_ids: list[str], records: list[dict]) -> dict | None:
    """The cluster's history across the store's incremental runs (None without a store): its events and
    ids, as :func:`pace_linkage.workbench.history.cluster_history` gives them."""
    if bench.store is None:
        return None
    events, ids = _stored_history(bench)
    if events.empty:
        return {"events": [], "ids": []}
    found = history.cluster_history(events, ids, run_ids, pd.DataFrame(records, columns=[SOURCE, RECORD_ID]))
    id_col = history.id_column(events)
    rows = found["events"].rename(columns={id_col: "id"})
    return {"events": [plain(r) for r in rows.astype(object).where(rows.notna(), None).to_dict(orient="records")],
            "ids": [plain(r) for r in found["ids"].astype(object).where(found["ids"].notna(), None)
                    .to_dict(orient="records")]}


def cluster_view(bench: Workbench, query: str, threshold: float) -> dict:
    """The cluster at ``threshold`` holding the record ``query`` names (a pace id of the run, or
    ``source/record_id``): its records, the scored pairs between them, the run's conflicts for it and, with a
    store, its history across incremental runs (:func:`cluster_history`; None without one)."""
    at = _find(bench, query.strip())
    if at is None:
        raise InputError("cluster: no record or pace id matches the search")
    labels = bench.labels_at(threshold)
    members = np.flatnonzero(labels == labels[at])
    pairs = bench.run.pairs
    left, right = pairs[LEFT].to_numpy(), pairs[RIGHT].to_numpy()
    inside = np.flatnonzero(np.isin(left, members) & np.isin(right, members))
    prob = pairs[MATCH_PROBABILITY].to_numpy()
    edges = [{"pair": int(i), "left": record_key(bench.run, int(left[i])), "right": record_key(bench.run, int(right[i])),
              "match_weight": round(float(pairs[MATCH_WEIGHT].iat[i]), 4) if MATCH_WEIGHT in pairs.columns else None,
              "match_probability": round(float(prob[i]), 6), "links": bool(prob[i] >= threshold)}
             for i in inside[np.argsort(-prob[inside], kind="stable")]]
    ids = _run_ids(bench)
    run_ids = sorted({str(ids[m]) for m in members})
    records = [record_key(bench.run, int(m)) for m in members]
    conflicts = []
    if "conflicts.csv" in bench.run.manifest.get("files", {}) and run_ids:
        table = pd.read_csv(bench.run.path / "conflicts.csv", dtype=str, keep_default_na=False)
        conflicts = table[table["pace_id"].isin(run_ids)].to_dict(orient="records")
    return {"threshold": threshold, "records": records, "pairs": edges,
            "refused": refused_links(bench, labels, at, threshold), "run_pace_ids": run_ids, "conflicts": conflicts,
            "history": cluster_history(bench, run_ids, records),
            "note": "pairs not listed were never compared; links at or above the threshold to records outside "
                    "the cluster were refused by a conflict rule (listed with their reasons)"}


def by_partner(bench: Workbench) -> list[dict]:
    """Per partner: records, rows quarantined and the commonest reason, the share of its records linked to
    another, the expected precision of the links touching its records (their mean match probability), an
    estimated recall (those links' expected true matches over themselves plus the matches the run estimates it
    missed), the measured recall with truth, and each field's share of valid values."""
    if "partners" in bench.cache:
        return bench.cache["partners"]
    m = bench.run.metrics
    by_source = (m.get("counts") or {}).get("by_source") or {}
    groups = {r.get("group"): r for r in (m.get("linked_less") or {}).get("partner") or [] if isinstance(r, dict)}
    pairs, t = bench.run.pairs, bench.threshold
    prob = pairs[MATCH_PROBABILITY].to_numpy()
    linked = prob >= t
    src = bench.run.records[SOURCE].to_numpy()
    left_src, right_src = src[pairs[LEFT].to_numpy()], src[pairs[RIGHT].to_numpy()]
    out = []
    for source in sorted(set(by_source) | set(groups)):
        counts, group = by_source.get(source) or {}, groups.get(source) or {}
        touches = linked & ((left_src == source) | (right_src == source))
        found = float(prob[touches].sum())
        missed = group.get("estimated_missed_links")
        reasons = counts.get("reasons") or {}
        fields = (m.get("coverage") or {}).get(source) or {}
        out.append(plain({
            "partner": source, "label": counts.get("label", source), "records": group.get("records"),
            "rows_quarantined": counts.get("rows_quarantined"),
            "top_reason": min(reasons, key=lambda r: (-reasons[r], r)) if reasons else None,
            "linkage_rate": group.get("linkage_rate"),
            "est_precision": found / int(touches.sum()) if touches.any() else None,
            "est_recall": found / (found + float(missed)) if missed is not None and found + float(missed) else None,
            "recall": group.get("recall"),
            "valid": {f: round(v["valid"] / v["rows"], 4) for f, v in sorted(fields.items())
                      if isinstance(v, dict) and v.get("rows")},
        }))
    bench.cache["partners"] = out
    return out


def save_ids(bench: Workbench, threshold: float, save_to: Path | None) -> dict:
    """The ids at ``threshold`` saved as a set of their own in ``save_to``/ids-at-<threshold> (see
    :func:`pace_linkage.evaluate.recluster.save`), honouring the decisions labelled so far (the run folder's
    clerical.csv: match = must-link, non-match = cannot-link). A set saved again at the same threshold is
    replaced. Without ``save_to`` (the command's ``--save-to``) nothing is written."""
    from pace_linkage.evaluate.recluster import save
    from pace_linkage.incremental.persist import read_clerical_decisions

    if save_to is None:
        raise InputError("save: start the workbench with --save-to DIR to save sets of ids")
    if not 0 < threshold < 1:
        raise InputError("threshold: must be strictly between 0 and 1")
    clerical = bench.run.path / "clerical.csv"
    decisions = read_clerical_decisions(clerical) if "clerical.csv" in bench.run.manifest.get("files", {}) else None
    out = Path(save_to) / f"ids-at-{threshold:.6g}"
    figures = save(bench.run, threshold, out, clustering=bench.clustering, decisions=decisions, decisions_path=clerical)
    return plain({"folder": str(out), "threshold": threshold,
                   "clerical_decisions": 0 if decisions is None else len(decisions), **figures})


def _read_keyed(bench: Workbench, name: str) -> pd.DataFrame:
    """labels.csv or clerical.csv of the run folder (keys and label), empty when the folder has none."""
    if name not in bench.run.manifest.get("files", {}):
        return pd.DataFrame(columns=[*PAIR_KEYS, "label"])
    return review.read_clerical(bench.run.path / name)


def _labelled(bench: Workbench) -> pd.DataFrame:
    return _read_keyed(bench, LABELS_NAME)


def given_labels(bench: Workbench) -> pd.DataFrame:
    """Every label given so far (labels.csv: the pair's keys and its latest label)."""
    return _labelled(bench)


def queue_sample(bench: Workbench, seed: int = 42) -> pd.DataFrame:
    """The pairs offered for labelling, in the order offered: the clerical review's stratified sample around the
    run's threshold (``pos``, ``stratum``, ``stratum_pairs``), drawn once."""
    if "sample" not in bench.cache:
        bench.cache["sample"] = review.sample_pairs(review.pair_probability(bench.run.pairs), bench.threshold,
                                                    n=QUEUE, seed=seed)
    return bench.cache["sample"]


def label_queue(bench: Workbench, seed: int = 42) -> dict:
    """The next pair to label (drawn around the run's threshold with the review's strata, those labelled left
    out) and how many pairs are labelled so far, by label."""
    if "queue" not in bench.cache:
        bench.cache["queue"] = queue_sample(bench, seed)["pos"].to_numpy().tolist()
    labelled = _labelled(bench)
    done = set(zip(*(labelled[c].astype(str) for c in PAIR_KEYS), strict=True))
    pairs = bench.run.pairs
    nxt = next((p for p in bench.cache["queue"] if tuple(str(pairs[c].iat[p]) for c in PAIR_KEYS) not in done), None)
    counts = {k: int(v) for k, v in labelled["label"].value_counts().sort_index().items()}
    return {"next": None if nxt is None else waterfall(bench, int(nxt)), "labelled": counts}


def save_label(bench: Workbench, pair: int, label: str) -> dict:
    """Keep ``label`` for scored pair ``pair`` in the run folder's clerical.csv (written atomically, 0600, the
    manifest updated); the latest label of a pair wins. With a store, the label is appended to its ``labels``
    table first (keys and label, the run's id; one transaction; if the store refuses it, nothing is kept).
    One label is saved at a time."""
    with bench.saving:
        return _save_label(bench, pair, label)


def _save_label(bench: Workbench, pair: int, label: str) -> dict:
    if label not in LABELS:
        raise InputError(f"label: one of {', '.join(LABELS)}")
    pairs = bench.run.pairs
    if not 0 <= pair < len(pairs):
        raise InputError(f"pair: no scored pair number {pair}")
    row = pd.DataFrame([{**{c: str(pairs[c].iat[pair]) for c in PAIR_KEYS}, "label": label}])
    if bench.store is not None:
        with open_store(bench.store, create=False) as st:
            st.append_labels(str(bench.run.manifest["run_id"]), row)
    labels = pd.concat([_labelled(bench)[[*PAIR_KEYS, "label"]], row], ignore_index=True)
    labels = labels.drop_duplicates(PAIR_KEYS, keep="last").sort_values(PAIR_KEYS, kind="stable")
    decided = review.clerical_frame(labels, _read_keyed(bench, "clerical.csv"))
    manifest = add_to_run(bench.run.path, {LABELS_NAME: csv_bytes(labels.reset_index(drop=True)),
                                           "clerical.csv": csv_bytes(decided)})
    bench.run.manifest = json.loads(manifest.read_text(encoding="utf-8"))
    return label_queue(bench)


__all__ = ["LABELS", "LABELS_NAME", "Workbench", "by_partner", "cluster_history", "cluster_view", "curve_rows",
           "figures_at", "given_labels", "label_queue", "plain", "queue_sample", "record_key", "save_ids", "save_label",
           "waterfall"]
