"""Clerical review: a stratified sample of candidate pairs for people to label, and estimates from the labels.

Where no truth exists, precision and recall can still be estimated from a few hundred labelled pairs if the
pairs are drawn by a known design and each labelled pair stands for the pairs it represents.

Export (:func:`build_review`):

* **Strata** (:func:`stratify`) partition *every* candidate pair by match probability ``p``: a band of
  ``+-band`` around the threshold ``t`` (clipped to [0.001, 0.999]) is cut into ``bins`` strata of equal
  width in match-weight space, half below ``t`` and half above (``t`` itself is a stratum edge, so each
  stratum is wholly linked or wholly unlinked). Outside the band, on each side, one stratum
  ``OUTER_WIDTH`` (6) bits wide next to the band, where the few matches (or non-matches) outside the
  band gather, and one open-ended stratum beyond it: ``bins + 4`` strata in all.
* **Allocation** (:func:`allocate`): ``far_share`` of the sample to each outer stratum next to the band,
  half that to each open-ended one, the rest shared equally among the band strata; a stratum holding
  fewer pairs than its share gives all of them and the remainder goes to the others (largest
  remainders, ties to the lower stratum).
* **Sampling**: without replacement within each stratum, with ``numpy.random.default_rng(seed)``; rows are
  then shuffled (so a reviewer does not read them in probability order) and numbered ``pair_id`` 1..n.
* **The sheet** shows, per pair, the keys of both records, the match probability and weight, the level each
  comparison gave the pair (``level_<comparison>``, from the run's pairs.parquet and model.json; ``null`` where a
  side had no value), the *normalised* values of every compared field side by side, then those of the other
  configured fields a reviewer reads for context (middle name, contact details, client id, employer and the
  like, :func:`context_columns`), then an empty ``label`` column, then the
  bookkeeping the estimate needs (stratum, its number of pairs, the pairs sampled from it, threshold). It
  holds personal data: it is written 0600 (``mask=True`` masks values with :mod:`pace_linkage.redact`).

Import (:func:`read_labels`, :func:`estimate`):

* Labels: ``match``, ``non-match`` or ``unsure`` (case and spacing ignored; ``m``/``y``/``yes``,
  ``n``/``no``/``nonmatch`` and ``u``/``?`` accepted); blank = not labelled. ``unsure`` and blank are left
  out and the stratum's weight is spread over its decided pairs.
* Weighted (stratified ratio) estimates over the *candidate pairs*, pair level: each decided pair in
  stratum h weighs ``w = N_h / d_h`` (N_h pairs in the stratum, d_h decided there).
  precision = sum(w * match * linked) / sum(w * linked); recall = sum(w * match * linked) / sum(w * match),
  where linked means ``p >= threshold`` (the run's probability, from its weight). Matches that blocking
  never proposed are invisible, so recall is relative to the candidate pairs.
* Intervals (95 %): Wilson score intervals on the design-effective sample size
  ``min(n, R(1-R) / V)`` (Korn & Graubard 1998), V being the linearised stratified variance of the ratio
  R. When every stratum's labels are alike (V = 0) n is the labelled pairs themselves, so the interval
  never collapses to a point; a Wilson interval always contains its estimate.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig
from pace_linkage.engine.model import FSModel
from pace_linkage.errors import ConfigError, InputError, LinkageError
from pace_linkage.evaluate.runfolder import PAIR_KEYS, RunData, key_strings, unneutralise
from pace_linkage.evaluate.tune import (
    add_to_run,
    pair_probability,
    probability_from_weight,
    weight_from_probability,
)
from pace_linkage.redact import mask_series
from pace_linkage.schema import MATCH_WEIGHT, RECORD_ID, SOURCE
from pace_linkage.store.outputs import csv_bytes, write_private_csv

LABELS = ("match", "non-match", "unsure")
_SYNONYMS = {
    "match": "match", "m": "match", "y": "match", "yes": "match",
    "non-match": "non-match", "nonmatch": "non-match", "non match": "non-match", "no-match": "non-match",
    "n": "non-match", "no": "non-match",
    "unsure": "unsure", "u": "unsure", "?": "unsure",
    "": "",
}
REQUIRED = ["pair_id", *PAIR_KEYS, "label", "stratum", "stratum_pairs"]
P_CLIP = (0.001, 0.999)
OUTER_WIDTH = 6.0  # bits (a factor of 64 in the odds): width of the outer stratum next to the band
Z95 = 1.959963984540054


# --------------------------------------------------------------------------------------------------
# Strata and allocation
# --------------------------------------------------------------------------------------------------
@dataclass
class Strata:
    codes: np.ndarray  # stratum number per pair, 1..K in increasing probability
    edges: np.ndarray  # probability edges, length K + 1 (0 and 1 at the ends)
    linked: np.ndarray  # per stratum (index 0..K-1): is it at or above the threshold?

    @property
    def k(self) -> int:
        return len(self.edges) - 1


def stratify(prob: np.ndarray, threshold: float, band: float = 0.2, bins: int = 10,
             outer_width: float = OUTER_WIDTH) -> Strata:
    """Partition pairs by probability (see the module rules): ``bins`` (>= 2) band strata, and on each
    side an outer stratum ``outer_width`` bits wide next to the band and an open-ended one beyond it."""
    if not 0 < threshold < 1:
        raise ConfigError(f"review: threshold must be between 0 and 1 (got {threshold:g})")
    if band <= 0:
        raise ConfigError("review: --band must be greater than 0")
    bins = max(int(bins), 2)
    p_lo = min(max(threshold - band, P_CLIP[0]), threshold)
    p_hi = max(min(threshold + band, P_CLIP[1]), threshold)
    w_t = float(weight_from_probability(threshold))
    w_lo, w_hi = float(weight_from_probability(p_lo)), float(weight_from_probability(p_hi))
    below = np.linspace(w_lo, w_t, bins // 2 + 1)[:-1] if w_lo < w_t else np.array([])
    above = np.linspace(w_t, w_hi, bins - bins // 2 + 1)[1:] if w_hi > w_t else np.array([])
    inner = probability_from_weight(np.r_[w_lo - outer_width, below, above, w_hi + outer_width])
    edges = np.unique(np.r_[0.0, inner, threshold, 1.0 + 1e-12])
    codes = np.searchsorted(edges, np.asarray(prob, dtype=np.float64), side="right")  # p >= edge -> upper stratum
    codes = np.clip(codes, 1, len(edges) - 1)
    linked = edges[:-1] >= threshold
    return Strata(codes.astype(np.int64), edges, linked)


def allocate(sizes: np.ndarray, shares: np.ndarray, n: int) -> np.ndarray:
    """Split ``n`` draws over strata in proportion to ``shares``, never more than a stratum's size;
    what a small stratum cannot take goes to the others (largest remainders, ties to the lower index)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    shares = np.asarray(shares, dtype=np.float64)
    alloc = np.zeros(len(sizes), dtype=np.int64)
    remaining = int(min(n, sizes.sum()))
    while remaining > 0:
        room = sizes - alloc
        open_ = room > 0
        weights = np.where(open_, shares, 0.0)
        if weights.sum() <= 0:  # only strata without a share have room left: fill them by size
            weights = np.where(open_, room, 0).astype(np.float64)
        quota = remaining * weights / weights.sum()
        take = np.floor(quota).astype(np.int64)
        left = remaining - int(take.sum())
        if left:
            order = np.lexsort((np.arange(len(quota)), -(quota - take)))
            take[order[:left]] += 1
        take = np.minimum(take, room)
        alloc += take
        remaining -= int(take.sum())
    return alloc


def sample_pairs(prob: np.ndarray, threshold: float, n: int = 200, seed: int = 42, band: float = 0.2,
                 bins: int = 10, far_share: float = 0.1) -> pd.DataFrame:
    """The sample: one row per drawn pair (``pos`` into the pairs, ``stratum``, ``stratum_pairs``,
    ``stratum_sampled``), in shuffled order."""
    st = stratify(prob, threshold, band, bins)
    sizes = np.bincount(st.codes, minlength=st.k + 1)[1:]
    outer = np.array([far_share / 2, far_share], dtype=np.float64)
    shares = np.full(st.k, (1.0 - 3 * far_share) / max(st.k - 4, 1))
    shares[:2], shares[-2:] = outer, outer[::-1]
    alloc = allocate(sizes, shares, n)
    rng = np.random.default_rng(seed)
    picked, strata = [], []
    for h in range(st.k):
        if alloc[h] == 0:
            continue
        members = np.flatnonzero(st.codes == h + 1)
        picked.append(np.sort(rng.choice(members, size=int(alloc[h]), replace=False)))
        strata.append(np.full(int(alloc[h]), h + 1, dtype=np.int64))
    pos = np.concatenate(picked) if picked else np.array([], dtype=np.int64)
    code = np.concatenate(strata) if strata else np.array([], dtype=np.int64)
    order = rng.permutation(len(pos))
    pos, code = pos[order], code[order]
    return pd.DataFrame({"pos": pos, "stratum": code, "stratum_pairs": sizes[code - 1],
                         "stratum_sampled": alloc[code - 1]})


# --------------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------------
def compared_columns(cfg: PaceConfig) -> list[str]:
    """The record columns the comparisons use, in config order (each once)."""
    seen: list[str] = []
    for comp in cfg.linkage.comparisons:
        if comp.column not in seen:
            seen.append(comp.column)
    return seen


def context_columns(cfg: PaceConfig, records: pd.DataFrame) -> list[str]:
    """The configured fields no comparison uses, in config order, that the records hold: what a reviewer reads
    beside the compared values."""
    compared = set(compared_columns(cfg))
    return [f for f in cfg.fields if f not in compared and f in records.columns]


def level_columns(run: RunData, pairs: pd.DataFrame) -> dict[str, np.ndarray]:
    """``level_<comparison>`` -> the label of the level each of ``pairs`` got (``null``: a side had no value),
    from the run's model.json; empty when the run folder holds no model."""
    if "model.json" not in run.manifest.get("files", {}):
        return {}
    path = run.path / "model.json"
    try:
        model = FSModel.load(path)
    except LinkageError:
        raise InputError(f"{path}: cannot be read as the run's model") from None
    out: dict[str, np.ndarray] = {}
    for comp in model.comparisons:
        column = f"gamma_{comp.name}"
        if column not in pairs.columns:
            continue
        labels = np.array([*comp.labels, "null"], dtype=object)  # gamma -1 (null) takes the last entry
        gamma = pairs[column].to_numpy().astype(np.int64)
        if len(gamma) and (gamma.min() < -1 or gamma.max() >= len(comp.labels)):
            raise InputError(f"{run.path / 'pairs.parquet'}: column {column} holds a level model.json does not have")
        out[f"level_{comp.name}"] = labels[gamma]
    return out


def _kind(cfg: PaceConfig, column: str) -> str:
    if column in cfg.fields:
        return cfg.fields[column].kind
    base = max((f for f in cfg.fields if column.startswith(f + "_")), key=len, default=None)
    return cfg.fields[base].kind if base else "text"


def check_config_matches(cfg: PaceConfig, run: RunData) -> str | None:
    """A warning (value-free) when the config's hash is not the run's: the sheet may then show values
    normalised differently from what the run compared. None when they match (or the run has no hash)."""
    expected = run.manifest.get("config_hash")
    if expected and cfg.hash() != expected:
        return (f"{run.path / 'manifest.json'}: config_hash differs from the given config; the sheet shows values "
                "as the given config normalises them (pass the --config the run used)")
    return None


def build_review(run: RunData, records: pd.DataFrame, cfg: PaceConfig, threshold: float | None = None,
                 n: int = 200, seed: int | None = None, band: float = 0.2, mask: bool = False) -> pd.DataFrame:
    """The review sheet as a frame (see the module rules for its columns)."""
    t = threshold if threshold is not None else run.threshold
    if t is None:
        raise InputError(f"{run.path / 'metrics.json'}: no run threshold recorded; pass --threshold")
    prob = pair_probability(run.pairs)
    drawn = sample_pairs(prob, float(t), n=n, seed=cfg.seed if seed is None else seed, band=band)
    pairs = run.pairs.iloc[drawn["pos"].to_numpy()].reset_index(drop=True)
    index = pd.Index(key_strings(records[SOURCE], records[RECORD_ID]))
    left = index.get_indexer(key_strings(pairs["source_l"], pairs["record_id_l"]))
    right = index.get_indexer(key_strings(pairs["source_r"], pairs["record_id_r"]))
    lost = int(((left < 0) | (right < 0)).sum())
    if lost:
        raise InputError(f"review: {lost} sampled pair(s) name a record the extracts no longer hold; "
                         "export from the extracts the run used")
    out = pd.DataFrame({"pair_id": np.arange(1, len(pairs) + 1, dtype=np.int64)})
    for c in PAIR_KEYS:
        out[c] = pairs[c].to_numpy()
    out["match_probability"] = np.round(prob[drawn["pos"].to_numpy()], 6)
    if MATCH_WEIGHT in pairs.columns:
        out["match_weight"] = pairs[MATCH_WEIGHT].to_numpy().round(3)
    for name, labels in level_columns(run, pairs).items():
        out[name] = labels
    for col in [*compared_columns(cfg), *context_columns(cfg, records)]:
        if col not in records.columns:
            continue
        values = records[col]
        if mask:
            values = mask_series(_kind(cfg, col), values)
        values = values.astype(object).where(values.notna(), "")
        out[f"{col}_l"] = values.to_numpy()[left]
        out[f"{col}_r"] = values.to_numpy()[right]
    out["label"] = ""
    out["stratum"] = drawn["stratum"].to_numpy()
    out["stratum_pairs"] = drawn["stratum_pairs"].to_numpy()
    out["stratum_sampled"] = drawn["stratum_sampled"].to_numpy()
    out["threshold"] = float(t)
    return out


def write_review(path: Path, sheet: pd.DataFrame, overwrite: bool = False) -> Path:
    """Write the sheet as CSV (formula-neutralised), atomically, created 0600."""
    return write_private_csv(path, sheet, overwrite, "a review sheet")


# --------------------------------------------------------------------------------------------------
# Import
# --------------------------------------------------------------------------------------------------
def parse_label(text: str) -> str | None:
    """The canonical label (``""`` when blank), or None when the text is not a label."""
    key = " ".join(text.replace("_", "-").strip().lower().split())
    if key.startswith("'"):
        key = key[1:]
    return _SYNONYMS.get(key, _SYNONYMS.get(key.replace(" ", "-")))


def _positive_int(text: str) -> int | None:
    try:
        v = int(text.strip())
    except ValueError:
        return None
    return v if v >= 1 else None


MAX_PROBLEMS = 10


def read_labels(path: Path, run: RunData) -> pd.DataFrame:
    """Read a filled sheet and check it against the run. Every problem is one line naming the file, line
    and column, never a value; up to ``MAX_PROBLEMS`` are reported together.

    Returns pair_id, the run's pair keys (its orientation), pos (row in the run's pairs), label,
    stratum, stratum_pairs and, when present, threshold.
    """
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: review file not found") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text; save the sheet as CSV UTF-8") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({type(exc).__name__})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{path}: empty file") from None
    except csv.Error:
        raise InputError(f"{path}: line 1: not valid CSV") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise InputError(f"{path}: line 1: missing column(s) {', '.join(missing)}")
    col = {c: header.index(c) for c in header[::-1]}  # first occurrence wins
    has_t = "threshold" in col
    problems: list[str] = []
    rows: list[tuple] = []
    line_end = reader.line_num
    while True:
        start = line_end + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error:
            problems.append(f"{path}: line {start}: not valid CSV (unbalanced quotes?)")
            break
        line_end = reader.line_num
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) < len(header):
            problems.append(f"{path}: line {start}: {len(cells)} cells, the header has {len(header)}")
            continue
        label = parse_label(cells[col["label"]])
        if label is None:
            problems.append(f"{path}: line {start}, column label: not one of match, non-match, unsure (or blank)")
        stratum = _positive_int(cells[col["stratum"]])
        if stratum is None:
            problems.append(f"{path}: line {start}, column stratum: not a whole number >= 1")
        n_h = _positive_int(cells[col["stratum_pairs"]])
        if n_h is None:
            problems.append(f"{path}: line {start}, column stratum_pairs: not a whole number >= 1")
        thr = math.nan
        if has_t:
            try:
                thr = float(cells[col["threshold"]])
            except ValueError:
                problems.append(f"{path}: line {start}, column threshold: not a number")
        rows.append((start, cells[col["pair_id"]].strip(), *(cells[col[c]] for c in PAIR_KEYS), label, stratum,
                     n_h, thr))
    if not rows and not problems:
        raise InputError(f"{path}: no rows to import")
    frame = pd.DataFrame(rows, columns=["line", "pair_id", *PAIR_KEYS, "label", "stratum", "stratum_pairs",
                                        "threshold"])
    if len(frame):
        _match_pairs(frame, run, path, problems)
        _check_consistency(frame, path, problems)
    if problems:
        more = len(problems) - MAX_PROBLEMS
        raise InputError(*problems[:MAX_PROBLEMS], *([f"{path}: ... and {more} more problem(s)"] if more > 0 else []))
    return frame


def _match_pairs(frame: pd.DataFrame, run: RunData, path: Path, problems: list[str]) -> None:
    """Find each row's pair among the run's candidate pairs (either orientation; formula guards undone)."""
    index = pd.Index(key_strings(
        key_strings(run.pairs["source_l"], run.pairs["record_id_l"]),
        key_strings(run.pairs["source_r"], run.pairs["record_id_r"])))
    keys = {c: frame[c].astype(str).str.strip() for c in PAIR_KEYS}

    def look(sl, rl, sr, rr) -> np.ndarray:
        return index.get_indexer(key_strings(key_strings(sl, rl), key_strings(sr, rr)))

    raw = [keys[c] for c in PAIR_KEYS]
    plain = [unneutralise(keys[c]) for c in PAIR_KEYS]
    pos = np.full(len(frame), -1, dtype=np.int64)
    for a in (raw, plain):
        for sl, rl, sr, rr in ((a[0], a[1], a[2], a[3]), (a[2], a[3], a[0], a[1])):
            found = look(sl, rl, sr, rr)
            pos = np.where(pos < 0, found, pos)
    frame["pos"] = pos
    for line in frame.loc[pos < 0, "line"]:
        problems.append(f"{path}: line {line}, columns source_l..record_id_r: not a candidate pair of this run")
    ok = pos >= 0
    for c in PAIR_KEYS:  # the run's orientation and exact keys
        frame.loc[ok, c] = run.pairs[c].to_numpy()[pos[ok]]
    dup = frame.loc[ok].duplicated("pos", keep="first")
    first = frame.loc[ok].drop_duplicates("pos").set_index("pos")["line"]
    for _, row in frame.loc[ok][dup.to_numpy()].iterrows():
        problems.append(f"{path}: line {row['line']}: the same pair as line {first[row['pos']]}")


def _check_consistency(frame: pd.DataFrame, path: Path, problems: list[str]) -> None:
    good = frame["stratum"].notna() & frame["stratum_pairs"].notna()
    sizes = frame.loc[good].groupby("stratum")["stratum_pairs"].nunique()
    for h in sizes.index[sizes > 1]:
        problems.append(f"{path}: column stratum_pairs: differs between the rows of stratum {int(h)}")
    counts = frame.loc[good].groupby("stratum").agg(n=("line", "size"), big=("stratum_pairs", "first"))
    for h in counts.index[counts["n"] > counts["big"]]:
        problems.append(f"{path}: column stratum: stratum {int(h)} has more rows than stratum_pairs says it holds")


def wilson(p: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion ``p`` observed on an (effective) sample of ``n``."""
    if n <= 0 or math.isnan(p):
        return (0.0, 1.0)
    z2 = z * z
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = z / denom * math.sqrt(max(p * (1 - p) / n + z2 / (4 * n * n), 0.0))
    return (max(0.0, centre - half), min(1.0, centre + half))


def ratio_estimate(y: np.ndarray, x: np.ndarray, stratum: np.ndarray, big_n: dict, labelled: int) -> dict:
    """Stratified ratio ``R = sum(w y) / sum(w x)`` over the decided pairs (w = N_h / d_h) with a 95 %
    Wilson interval on the design-effective sample size ``min(n, R(1-R) / V)`` (Korn & Graubard), where V
    is the linearised stratified variance of R (finite-population corrected) and n the labelled pairs in
    the denominator; n itself when V is 0 (every stratum's labels alike)."""
    frame = pd.DataFrame({"h": stratum, "y": y.astype(np.float64), "x": x.astype(np.float64)})
    g = frame.groupby("h")
    d = g.size()
    size = pd.Series({h: float(big_n[h]) for h in d.index})
    x_tot = float((size / d * g["x"].sum()).sum())
    if x_tot <= 0 or labelled <= 0:
        return {"estimate": None, "ci_low": None, "ci_high": None, "effective_n": 0.0, "labelled": int(labelled)}
    r = float((size / d * g["y"].sum()).sum()) / x_tot
    frame["e"] = frame["y"] - r * frame["x"]
    s2 = frame.groupby("h")["e"].var(ddof=1).fillna(0.0)
    var = float((size**2 * (1 - d / size).clip(lower=0) * s2 / d).sum()) / (x_tot * x_tot)
    n_eff = float(labelled)
    if var > 0 and 0 < r < 1:
        n_eff = min(n_eff, r * (1 - r) / var)
    lo, hi = wilson(r, n_eff)
    return {"estimate": round(r, 6), "ci_low": round(lo, 6), "ci_high": round(hi, 6),
            "effective_n": round(n_eff, 2), "labelled": int(labelled)}


def estimate(labels: pd.DataFrame, run: RunData, threshold: float, prob: np.ndarray | None = None) -> dict:
    """Precision and recall of the candidate pairs at ``threshold``, estimated from the labels (``prob``: the
    pairs' probabilities as :func:`pair_probability` gives them, when the caller holds them already)."""
    prob = pair_probability(run.pairs) if prob is None else prob
    per = labels.assign(
        linked=prob[labels["pos"].to_numpy()] >= threshold,
        decided=labels["label"].isin(["match", "non-match"]).to_numpy(),
        is_match=(labels["label"] == "match").to_numpy(),
    )
    strata = per.groupby("stratum").agg(pairs=("stratum_pairs", "first"), sampled=("line", "size"),
                                        decided=("decided", "sum"), matches=("is_match", "sum"))
    dec = per.loc[per["decided"]]
    h, y_match, x_link = dec["stratum"].to_numpy(), dec["is_match"].to_numpy(), dec["linked"].to_numpy()
    big_n = strata["pairs"].to_dict()
    precision = ratio_estimate(y_match & x_link, x_link, h, big_n, int(x_link.sum()))
    recall = ratio_estimate(y_match & x_link, y_match, h, big_n, int(y_match.sum()))
    w = (strata["pairs"] / strata["decided"].where(strata["decided"] > 0)).reindex(h).to_numpy(dtype=np.float64)
    n_linked, tp, n_matches = float((w * x_link).sum()), float((w * (y_match & x_link)).sum()), float((w * y_match).sum())
    uncovered = strata.loc[strata["decided"] == 0, "pairs"]
    counts = labels["label"].replace("", "unlabelled").value_counts()
    return {
        "threshold": float(threshold),
        "scope": "candidate pairs, pair level (matches blocking never proposed are not counted)",
        "method": "stratified ratio estimate (each decided pair weighs N_h / decided_h); 95% Wilson interval on "
                  "the design-effective sample size (Korn-Graubard)",
        "labels": {k: int(counts.get(k, 0)) for k in (*LABELS, "unlabelled")},
        "precision": precision,
        "recall": recall,
        "estimated_pairs": {
            "candidate_pairs": int(len(run.pairs)),
            "linked": round(n_linked, 1),
            "true_links": round(tp, 1),
            "false_links": round(n_linked - tp, 1),
            "matches": round(n_matches, 1),
            "missed_matches": round(n_matches - tp, 1),
        },
        "strata_without_decisions": {"strata": int(len(uncovered)), "pairs": int(uncovered.sum())},
        "strata": [{"stratum": int(h), "pairs": int(r.pairs), "rows": int(r.sampled), "decided": int(r.decided),
                    "matches": int(r.matches)} for h, r in strata.iterrows()],
    }


def clerical_frame(labels: pd.DataFrame, existing: pd.DataFrame | None = None) -> pd.DataFrame:
    """clerical.csv: decided pairs (match / non-match) as source_l, record_id_l, source_r, record_id_r,
    label; merged with an earlier clerical.csv, the newer label winning; sorted by the keys."""
    cols = [*PAIR_KEYS, "label"]
    new = labels.loc[labels["label"].isin(["match", "non-match"]), cols]
    frame = new if existing is None or existing.empty else pd.concat([existing[cols], new], ignore_index=True)
    frame = frame.drop_duplicates(PAIR_KEYS, keep="last")
    return frame.sort_values(PAIR_KEYS, kind="stable").reset_index(drop=True)


def read_clerical(path: Path) -> pd.DataFrame | None:
    if not Path(path).exists():
        return None
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, ValueError, UnicodeDecodeError):
        raise InputError(f"{path}: cannot be read as CSV") from None
    missing = [c for c in [*PAIR_KEYS, "label"] if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    return frame.assign(**{c: unneutralise(frame[c]) for c in PAIR_KEYS})


def import_review(path: Path, run: RunData, threshold: float | None = None) -> dict:
    """Read the labels, estimate, and write review_estimate.json and clerical.csv into the run folder."""
    from pace_linkage.store.outputs import json_bytes

    labels = read_labels(path, run)
    if threshold is None:
        in_file = labels["threshold"].dropna().unique()
        if len(in_file) > 1:
            raise InputError(f"{path}: column threshold: rows disagree; pass --threshold")
        threshold = float(in_file[0]) if len(in_file) else run.threshold
    if threshold is None:
        raise InputError(f"{run.path / 'metrics.json'}: no run threshold recorded; pass --threshold")
    result = estimate(labels, run, float(threshold))
    result["file"] = Path(path).name
    clerical = clerical_frame(labels, read_clerical(run.path / "clerical.csv"))
    add_to_run(run.path, {"review_estimate.json": json_bytes(result), "clerical.csv": csv_bytes(clerical)})
    return {**result, "clerical_pairs": int(len(clerical))}


__all__ = [
    "LABELS", "Strata", "allocate", "build_review", "check_config_matches", "clerical_frame", "compared_columns",
    "context_columns", "level_columns",
    "estimate", "import_review", "ratio_estimate", "wilson", "parse_label", "read_labels", "sample_pairs", "stratify",
    "write_review",
]
