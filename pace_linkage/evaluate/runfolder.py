"""A finished run folder read back: its records (clusters.csv, in order), its pairs mapped to record positions
(pairs.parquet), its manifest (verified first) and metrics. Shared by tune, review, re-clustering and the
threshold curve."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pace_linkage.errors import InputError
from pace_linkage.redact import FORMULA_STARTS
from pace_linkage.schema import LEFT, MATCH_PROBABILITY, RECORD_ID, RIGHT, SOURCE
from pace_linkage.store.outputs import verify_manifest

KEY_SEP = "\x1f"
PAIR_KEYS = ["source_l", "record_id_l", "source_r", "record_id_r"]


def unneutralise(values: pd.Series) -> pd.Series:
    """Undo the CSV formula neutralisation (a ``'`` put before a leading ``=``, ``+``, ``-``, ``@``,
    tab or CR) on text read back from a CSV the pipeline wrote."""
    s = values.astype(str)
    guarded = s.str.startswith("'") & s.str.slice(1, 2).isin(FORMULA_STARTS)
    return s.where(~guarded, s.str.slice(1))


def key_strings(source: pd.Series | np.ndarray, record_id: pd.Series | np.ndarray) -> pd.Series:
    """``source + "\\x1f" + record_id`` per row (a positional Series)."""
    src = pd.Series(np.asarray(source, dtype=object)).astype(str)
    rid = pd.Series(np.asarray(record_id, dtype=object)).astype(str)
    return src + KEY_SEP + rid


@dataclass
class RunData:
    """A finished run as the tuner needs it: records (positions 0..N-1) and pairs (``l``, ``r``)."""

    path: Path
    manifest: dict
    metrics: dict
    records: pd.DataFrame  # source, record_id (sorted; position = row)
    pairs: pd.DataFrame  # the pairs.parquet columns + l, r

    @property
    def threshold(self) -> float | None:
        t = self.metrics.get("run", {}).get("threshold")
        return float(t) if t is not None else None


def _read_clusters(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, usecols=[SOURCE, RECORD_ID], encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: not found; the run is incomplete") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as the run's clusters CSV ({type(exc).__name__})") from None
    frame = frame.assign(**{SOURCE: unneutralise(frame[SOURCE]), RECORD_ID: unneutralise(frame[RECORD_ID])})
    return frame.sort_values([SOURCE, RECORD_ID], kind="stable").reset_index(drop=True)


def _read_pairs(path: Path, records: pd.DataFrame) -> pd.DataFrame:
    """pairs.parquet with ``l`` and ``r``, the record positions of its sides in ``records``. The key columns
    are looked up in Arrow (joined, then hashed against the records' keys) and kept as categoricals of the
    records' values, so millions of pairs never become millions of Python strings."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(path).names
        missing = [c for c in [*PAIR_KEYS, MATCH_PROBABILITY] if c not in names]
        if missing:
            raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
        rest = [c for c in names if c not in PAIR_KEYS]
        frame = pq.read_table(path, columns=rest, read_dictionary=[c for c in ("blocking_rule",) if c in rest]
                              ).to_pandas()
        known = pc.binary_join_element_wise(pa.array(records[SOURCE].to_numpy(), pa.string()),
                                            pa.array(records[RECORD_ID].to_numpy(), pa.string()), KEY_SEP)
        if pc.count_distinct(known).as_py() != len(known):
            raise InputError(f"{path.parent / 'clusters.csv'}: (source, record_id) keys are not unique")
        at = {}
        for side in ("l", "r"):
            keys = pq.read_table(path, columns=[f"source_{side}", f"record_id_{side}"])
            found = pc.index_in(pc.binary_join_element_wise(keys.column(0), keys.column(1), KEY_SEP), value_set=known)
            at[side] = pc.fill_null(found, -1).to_numpy().astype(np.int64)
            del keys, found
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise InputError(f"{path}: cannot be read as Parquet ({type(exc).__name__})") from None
    lost = int(((at["l"] < 0) | (at["r"] < 0)).sum())
    if lost:
        raise InputError(f"{path}: {lost} pair(s) name a record absent from clusters.csv")
    src_codes, sources = pd.factorize(records[SOURCE])
    rid_codes, rids = pd.factorize(records[RECORD_ID])
    keyed = {}
    for side in ("l", "r"):
        keyed[f"source_{side}"] = pd.Categorical.from_codes(src_codes[at[side]], categories=sources)
        keyed[f"record_id_{side}"] = pd.Categorical.from_codes(rid_codes[at[side]], categories=rids)
    keyed = pd.DataFrame({c: keyed[c] for c in PAIR_KEYS})
    return pd.concat([keyed, frame], axis=1).assign(**{LEFT: at["l"], RIGHT: at["r"]})


def load_run(run_dir: Path) -> RunData:
    """Read a finished run (manifest verified first) and map its pairs to record positions.

    Records are the clustered records of ``clusters.csv`` (singletons included, so truth pairs that no
    candidate pair covers still count as missed). A pair whose record is not among them is an InputError.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"{run_dir}: run folder not found")
    manifest = verify_manifest(run_dir)
    for name in ("pairs.parquet", "clusters.csv"):
        if name not in manifest.get("files", {}):
            raise InputError(f"{run_dir / 'manifest.json'}: does not list {name}; not a finished linkage run")
    metrics: dict = {}
    if "metrics.json" in manifest["files"]:
        try:
            metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise InputError(f"{run_dir / 'metrics.json'}: unreadable") from None
    records = _read_clusters(run_dir / "clusters.csv")
    pairs = _read_pairs(run_dir / "pairs.parquet", records)
    return RunData(run_dir, manifest, metrics, records, pairs)



def reclusterable(run: RunData) -> bool:
    """Whether the run folder holds what re-clustering it needs (clustering.json: runs since it was added)."""
    return "clustering.json" in run.manifest.get("files", {})


__all__ = ["KEY_SEP", "PAIR_KEYS", "RunData", "key_strings", "load_run", "reclusterable", "unneutralise"]
