"""Re-clustering a finished run at another threshold from its run folder alone, exactly as the run clusters.

Rules:

* A run writes what clustering reads beyond pairs.parquet, without any value: ``clustering.json`` (the
  threshold, the named thresholds, the id prefix and column, the clustering settings, the duplicate-free
  sources, and per conflict field the pairs of value codes within its edit tolerance) and
  ``clustering.parquet`` (one row per record, in clusters.csv's order: per conflict field an int32 code of
  its value, -1 for none; codes are the order values first occur in the run's records, so they say only which
  records share a value).
* :func:`recluster` clusters the stored pairs with the engine's own :func:`~pace_linkage.engine.cluster.cluster`
  from those codes: at the run's threshold it gives clusters.csv and conflicts.csv byte for byte.
* :class:`Reclusterer` loads those inputs once, for many thresholds (the threshold curve, the workbench).
* Incremental runs keep their ids stable through the store; their run folders are not re-clustered here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pace_linkage.engine.blocking import column_codes
from pace_linkage.engine.cluster import ClusterResult, FieldValues, cluster, cluster_labels
from pace_linkage.engine.near import MAX_TOLERANCE
from pace_linkage.engine.settings import ClusteringSettings
from pace_linkage.errors import InputError
from pace_linkage.evaluate.runfolder import RunData, key_strings
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, MATCH_WEIGHT, RECORD_ID, RIGHT, SOURCE

FORMAT = 1
JSON_NAME, CODES_NAME = "clustering.json", "clustering.parquet"


def clustering_files(records: pd.DataFrame, order: np.ndarray | None, *, threshold: float,
                     named_thresholds: dict[str, float], settings: ClusteringSettings, id_prefix: str,
                     id_column: str, duplicate_free_sources: list[str],
                     field_values: dict[str, FieldValues] | None = None) -> tuple[dict, pd.DataFrame | None]:
    """What a run writes for re-clustering (module rules): the ``clustering.json`` object and the
    ``clustering.parquet`` frame (None without conflict fields). ``order``: the records' positions in
    clusters.csv's order (None when they are already in it); ``field_values``: the conflict fields' codes the
    clustering made, if kept (else made here from ``records``)."""
    near: dict[str, list[list[int]] | None] = {}
    codes: dict[str, np.ndarray] = {}
    for name in settings.conflict_fields:
        tolerance = settings.conflict_tolerance.get(name, 0)
        values = (field_values or {}).get(name) or FieldValues.of(records[name], tolerance)
        at = values.codes if order is None else values.codes[order]
        codes[name] = at.astype(np.int32)
        near[name] = values.near_pairs().tolist() if tolerance <= MAX_TOLERANCE else None
    meta = {
        "format": FORMAT, "threshold": float(threshold),
        "named_thresholds": {k: float(v) for k, v in sorted(named_thresholds.items())},
        "id_prefix": id_prefix, "id_column": id_column, "clustering": settings.model_dump(mode="json"),
        "duplicate_free_sources": sorted(duplicate_free_sources), "near": near,
    }
    return meta, (pd.DataFrame(codes) if codes else None)


@dataclass
class Reclusterer:
    """A finished run's clustering inputs, loaded once: :meth:`at` clusters the stored pairs at a threshold."""

    run: RunData
    meta: dict
    settings: ClusteringSettings
    field_values: dict[str, FieldValues]
    duplicate_free: np.ndarray
    _sources: np.ndarray | None = None

    @classmethod
    def load(cls, run: RunData) -> Reclusterer:
        path = run.path / JSON_NAME
        if JSON_NAME not in run.manifest.get("files", {}):
            raise InputError(f"{run.path / 'manifest.json'}: does not list {JSON_NAME}; the run predates "
                             "re-clustering or is an incremental run: run it again to re-cluster it")
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
            settings = ClusteringSettings.model_validate(meta["clustering"])
            if meta.get("format") != FORMAT:
                raise ValueError("format")
        except (OSError, ValueError, KeyError, TypeError):
            raise InputError(f"{path}: cannot be read as the run's clustering inputs") from None
        field_values: dict[str, FieldValues] = {}
        if settings.conflict_fields:
            field_values = _field_values(run, settings, meta)
        dup_free = run.records[SOURCE].isin(meta.get("duplicate_free_sources", [])).to_numpy()
        return cls(run, meta, settings, field_values, dup_free)

    def labels(self, threshold: float) -> np.ndarray:
        """Each record's cluster label at ``threshold`` (:meth:`at`'s clusters without ids)."""
        pairs = self.run.pairs
        weight = pairs[MATCH_WEIGHT] if MATCH_WEIGHT in pairs.columns else pairs[MATCH_PROBABILITY]
        if self._sources is None:
            self._sources = column_codes(self.run.records[SOURCE])
        return cluster_labels(len(self.run.records), pairs[LEFT].to_numpy(), pairs[RIGHT].to_numpy(),
                              pairs[MATCH_PROBABILITY].to_numpy(np.float64), weight.to_numpy(np.float64),
                              float(threshold), self.settings, self.field_values, self.duplicate_free,
                              self._sources)

    def at(self, threshold: float, *, named: bool = True, must_link=None, cannot_link=None) -> ClusterResult:
        """The run's clustering at ``threshold`` (and at its named thresholds unless ``named`` is False)."""
        pairs = self.run.pairs
        weight = pairs[MATCH_WEIGHT] if MATCH_WEIGHT in pairs.columns else pairs[MATCH_PROBABILITY]
        scored = pd.DataFrame({LEFT: pairs[LEFT].to_numpy(), RIGHT: pairs[RIGHT].to_numpy(),
                               MATCH_PROBABILITY: pairs[MATCH_PROBABILITY].to_numpy(),
                               MATCH_WEIGHT: weight.to_numpy()})
        records = self.run.records[[SOURCE, RECORD_ID]]
        return cluster(records, scored, float(threshold), self.settings,
                       self.meta["named_thresholds"] if named else None, id_prefix=self.meta["id_prefix"],
                       duplicate_free=self.duplicate_free, id_column=self.meta["id_column"],
                       must_link=must_link, cannot_link=cannot_link, field_values=self.field_values)


def _field_values(run: RunData, settings: ClusteringSettings, meta: dict) -> dict[str, FieldValues]:
    path = run.path / CODES_NAME
    if CODES_NAME not in run.manifest.get("files", {}):
        raise InputError(f"{run.path / 'manifest.json'}: does not list {CODES_NAME}")
    try:
        codes = pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be read as Parquet ({type(exc).__name__})") from None
    if len(codes) != len(run.records):
        raise InputError(f"{path}: holds {len(codes)} rows for {len(run.records)} records in clusters.csv")
    out = {}
    for name in settings.conflict_fields:
        near = meta.get("near", {}).get(name)
        tolerance = settings.conflict_tolerance.get(name, 0)
        if name not in codes.columns or (near is None and tolerance > 0):
            raise InputError(f"{path}: no codes for conflict field {name} within its tolerance; run it again "
                             f"to re-cluster it (tolerances above {MAX_TOLERANCE} are not kept)")
        out[name] = FieldValues.from_codes(codes[name].to_numpy(np.int64), tolerance,
                                           np.asarray(near or [], dtype=np.int64))
    return out


def decision_positions(run: RunData, decisions: pd.DataFrame, path: Path
                       ) -> tuple[tuple[np.ndarray, np.ndarray] | None, tuple[np.ndarray, np.ndarray] | None]:
    """Clerical decisions (source_l, record_id_l, source_r, record_id_r, decision: must_link / cannot_link) as
    the (l, r) record positions clustering takes: (must_link, cannot_link), None for a kind absent. A decision
    naming a record the run does not hold is an InputError naming ``path``'s row."""
    index = pd.Index(key_strings(run.records[SOURCE], run.records[RECORD_ID]))
    left = index.get_indexer(key_strings(decisions["source_l"], decisions["record_id_l"]))
    right = index.get_indexer(key_strings(decisions["source_r"], decisions["record_id_r"]))
    lost = np.flatnonzero((left < 0) | (right < 0))
    if len(lost):
        raise InputError(f"{path}: decision {int(lost[0]) + 1} names a record the run does not hold")
    kind = decisions["decision"].to_numpy()
    out = []
    for name in ("must_link", "cannot_link"):
        at = kind == name
        out.append((left[at].astype(np.int64), right[at].astype(np.int64)) if at.any() else None)
    return out[0], out[1]


def recluster(run: RunData, threshold: float, *, must_link=None, cannot_link=None) -> ClusterResult:
    """The run's clusters (clusters.csv's frame) and conflicts at ``threshold``, made as the run makes them."""
    return Reclusterer.load(run).at(threshold, must_link=must_link, cannot_link=cannot_link)


def out_problem(run_dir: Path, out: Path) -> str | None:
    """Where a new set of ids may not go: the run folder itself, inside it, a folder holding it, or a file."""
    run_abs, out_abs = Path(run_dir).resolve(), Path(out).resolve()
    if out_abs == run_abs or run_abs in out_abs.parents:
        return f"--out {out}: inside the run folder {run_dir}; name a folder of its own"
    if out_abs in run_abs.parents:
        return f"--out {out}: holds the run folder {run_dir}; name a folder of its own"
    if Path(out).exists() and not Path(out).is_dir():
        return f"--out {out}: not a folder"
    return None


def save(run: RunData, threshold: float, out: Path, *, clustering: Reclusterer | None = None,
         decisions: pd.DataFrame | None = None, decisions_path: Path | None = None) -> dict:
    """The ids at ``threshold`` written to ``out`` as a set of their own, published atomically (manifest last):
    clusters.csv, conflicts.csv, metrics.json (the clusters' figures) and a manifest naming the run they come
    from (its config hash, its manifest's SHA-256, its threshold), the threshold and the number of clerical
    ``decisions`` honoured (must-link / cannot-link, as read from ``decisions_path``). Returns the figures:
    records, clusters, singletons, conflicts..."""
    from pace_linkage.schema import VERSION
    from pace_linkage.store.files import sha256_file
    from pace_linkage.store.outputs import RunWriter

    if problem := out_problem(run.path, out):
        raise InputError(problem)
    must = cannot = None
    if decisions is not None and len(decisions):
        must, cannot = decision_positions(run, decisions, Path(decisions_path or "clerical decisions"))
    clustering = clustering or Reclusterer.load(run)
    result = clustering.at(threshold, must_link=must, cannot_link=cannot)
    figures = {"records": int(len(result.clusters)), **result.stats[clustering.meta["id_column"]]}
    writer = RunWriter(Path(out))
    try:
        writer.write_csv("clusters.csv", result.clusters)
        writer.write_csv("conflicts.csv", result.conflicts)
        writer.write_json("metrics.json", {"clusters": result.stats, "recluster": figures})
        writer.publish({"version": VERSION, "kind": "recluster", "threshold": float(threshold),
                        "source_run": {"config_hash": run.manifest.get("config_hash"),
                                       "manifest_sha256": sha256_file(run.path / "manifest.json"),
                                       "threshold": run.threshold},
                        "clerical_decisions": 0 if decisions is None else int(len(decisions))})
    except BaseException:
        writer.discard()
        raise
    return figures


def run_folder(path: Path) -> RunData:
    """A finished run folder, for re-clustering (:func:`pace_linkage.evaluate.tune.load_run`)."""
    from pace_linkage.evaluate.runfolder import load_run

    return load_run(Path(path))


__all__ = ["CODES_NAME", "JSON_NAME", "Reclusterer", "clustering_files", "decision_positions", "out_problem",
           "recluster", "run_folder", "save"]
