"""Compare: turn each candidate pair into a vector of comparison levels (gamma).

For a comparison with levels ``0..L-1`` (``config.ComparisonSpec``) the pair's gamma is

* ``-1`` when either record is null in the comparison's column (or in any of ``null_columns``): no evidence;
* else the index of the FIRST declared level that holds;
* else ``L`` (the "else" level: the values disagree).

Levels are evaluated in order only on the pairs not yet assigned, so the cheap exact levels shrink the
work of the expensive string levels. A level whose own column is null on either side does not hold.
Everything is column-wise: exact levels compare integer codes, string similarities use
``rapidfuzz.process.cpdist`` (computed once per distinct value pair when values repeat a lot), Jaccard
uses a sparse token matrix, dates are parsed once per record.

Level types (see ``config.LevelSpec``): exact, jaro_winkler (>=), levenshtein (<=), damerau (<=, true
Damerau-Levenshtein), jaccard (word sets, >=), weighted_jaccard (word sets, each word weighted by
``log(N / df)``: N records with a value in the column, df of them holding the word; >=), token_set
(token_set_ratio/100 >=), swapped
(l.column == r.other and l.other == r.column), date_swap (same year, day and month crossed, day != month),
date_diff (|days| <=), numeric_diff (|a-b| <=), prefix (first ``int(threshold)`` characters equal),
dice (Dice coefficient ``2|A&B| / (|A|+|B|)`` of two base64 Bloom-filter encodings >=; the distinct filters
are decoded once into uint64 words and pairs are scored with ``np.bitwise_count``, in chunks).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

import numpy as np
import pandas as pd
from rapidfuzz import fuzz, process
from rapidfuzz.distance import DamerauLevenshtein, JaroWinkler, Levenshtein
from scipy import sparse

from pace_linkage.config import ComparisonSpec, LevelSpec
from pace_linkage.errors import LinkageError
from pace_linkage.schema import LEFT, RIGHT

NULL_LEVEL = -1
_DEDUPE_MIN_PAIRS = 20_000  # below this, compute similarities pair by pair (vectorised) directly
_DICE_CHUNK = 1 << 18  # pairs per chunk of the Dice computation (bounds the temporary word arrays)


class ColumnCache:
    """Per-column derived arrays computed once per compare run (codes, strings, dates, numbers)."""

    def __init__(self, records: pd.DataFrame):
        self.records = records
        self._codes: dict = {}
        self._strings: dict = {}
        self._cache: dict = {}

    def _col(self, col: str) -> pd.Series:
        if col not in self.records.columns:
            raise LinkageError(f"compare: column '{col}' not in the records")
        return self.records[col]

    def codes(self, col: str) -> np.ndarray:
        """Integer code per record (-1 = null); equal values share a code."""
        if col not in self._codes:
            codes, uniques = pd.factorize(self._col(col), use_na_sentinel=True)
            self._codes[col] = codes.astype(np.int64)
            self._strings[col] = np.asarray([str(u) for u in uniques], dtype=object)
        return self._codes[col]

    def uniques(self, col: str) -> np.ndarray:
        """The distinct non-null values of ``col`` as strings, indexed by code."""
        self.codes(col)
        return self._strings[col]

    def joint_codes(self, col_a: str, col_b: str) -> tuple[np.ndarray, np.ndarray]:
        """Codes of two columns in one shared code space (so values can be compared across columns)."""
        key = ("joint", col_a, col_b)
        if key not in self._cache:
            a, b = self._col(col_a), self._col(col_b)
            both = pd.concat([a.astype(object), b.astype(object)], ignore_index=True)
            codes = pd.factorize(both, use_na_sentinel=True)[0].astype(np.int64)
            self._cache[key] = (codes[: len(a)], codes[len(a):])
        return self._cache[key]

    def prefix_codes(self, col: str, n: int) -> np.ndarray:
        key = ("prefix", col, n)
        if key not in self._cache:
            s = self._col(col)
            pref = s.astype("string").str.slice(0, n)
            self._cache[key] = pd.factorize(pref, use_na_sentinel=True)[0].astype(np.int64)
        return self._cache[key]

    def date_parts(self, col: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(year, month, day, days since epoch) from ISO ``YYYY-MM-DD`` (or ``YYYYMMDD``) text; -1/NaN if unparsable."""
        key = ("date", col)
        if key not in self._cache:
            s = self._col(col)
            if pd.api.types.is_datetime64_any_dtype(s):
                dt = pd.to_datetime(s)
            else:
                txt = s.astype("string").str.replace("-", "", regex=False).str.strip()
                dt = pd.to_datetime(txt, format="%Y%m%d", errors="coerce")
            ok = dt.notna().to_numpy()
            year = np.where(ok, dt.dt.year.fillna(-1).to_numpy(np.int64), -1)
            month = np.where(ok, dt.dt.month.fillna(-1).to_numpy(np.int64), -1)
            day = np.where(ok, dt.dt.day.fillna(-1).to_numpy(np.int64), -1)
            days = np.where(ok, (dt - pd.Timestamp("1970-01-01")).dt.days.fillna(0).to_numpy(np.float64), np.nan)
            self._cache[key] = (year, month, day, days)
        return self._cache[key]

    def numbers(self, col: str) -> np.ndarray:
        key = ("num", col)
        if key not in self._cache:
            s = pd.to_numeric(self._col(col), errors="coerce")
            self._cache[key] = s.astype("Float64").to_numpy(np.float64, na_value=np.nan)
        return self._cache[key]

    def bloom_words(self, col: str) -> tuple[np.ndarray, np.ndarray]:
        """(uint64 words per distinct Bloom filter, bits set per filter) from base64 text, by code."""
        key = ("bloom", col)
        if key not in self._cache:
            try:
                raw = [base64.b64decode(u, validate=True) for u in self.uniques(col)]
            except (binascii.Error, ValueError):
                raise LinkageError(f"compare: column '{col}' does not hold base64 Bloom filters") from None
            sizes = {len(b) for b in raw}
            if len(sizes) > 1 or (raw and len(raw[0]) % 8):
                raise LinkageError(f"compare: column '{col}' holds Bloom filters of different or odd lengths")
            width = sizes.pop() // 8 if sizes else 1
            words = np.frombuffer(b"".join(raw), dtype=np.uint64).reshape(len(raw), width) if raw else \
                np.zeros((0, width), np.uint64)
            self._cache[key] = (words, np.bitwise_count(words).sum(axis=1, dtype=np.int64))
        return self._cache[key]

    def token_matrix(self, col: str) -> sparse.csr_matrix:
        """Binary (distinct value x word) matrix for word-set Jaccard."""
        key = ("tokens", col)
        if key not in self._cache:
            values = pd.Series(self.uniques(col), dtype=object)
            words = values.str.split().explode()
            row = words.index.to_numpy()
            tok_codes = pd.factorize(words, use_na_sentinel=True)[0]
            keep = tok_codes >= 0
            m = sparse.csr_matrix(
                (np.ones(int(keep.sum()), np.float32), (row[keep], tok_codes[keep])),
                shape=(len(values), int(tok_codes.max()) + 1 if keep.any() else 1),
            )
            m.data[:] = 1.0  # duplicate words in one value count once (set semantics)
            m.sum_duplicates()
            m.data[:] = 1.0
            self._cache[key] = m
        return self._cache[key]


# --------------------------------------------------------------------------------------------------
# Similarities over code pairs
# --------------------------------------------------------------------------------------------------
def _string_scores(cache: ColumnCache, col: str, cl: np.ndarray, cr: np.ndarray, scorer, **kw) -> np.ndarray:
    """Scores of ``scorer`` for code pairs (both >= 0), computed once per distinct pair when useful."""
    uniq = cache.uniques(col)
    if len(cl) >= _DEDUPE_MIN_PAIRS:
        combo = cl * len(uniq) + cr
        # cheap probe first: only dedupe when a sample already shows many repeated value pairs
        probe = combo[:: max(len(combo) // _DEDUPE_MIN_PAIRS, 1)]
        if len(pd.unique(probe)) > 0.7 * len(probe):
            return np.asarray(process.cpdist(uniq[cl], uniq[cr], scorer=scorer, workers=-1, **kw))
        inv, distinct = pd.factorize(combo)
        if len(distinct) < 0.7 * len(cl):
            dl, dr = distinct // len(uniq), distinct % len(uniq)
            s = process.cpdist(uniq[dl], uniq[dr], scorer=scorer, workers=-1, **kw)
            return np.asarray(s)[inv]
    return np.asarray(process.cpdist(uniq[cl], uniq[cr], scorer=scorer, workers=-1, **kw))


def _jaccard(cache: ColumnCache, col: str, cl: np.ndarray, cr: np.ndarray) -> np.ndarray:
    m = cache.token_matrix(col)
    sizes = np.asarray(m.sum(axis=1)).ravel()
    inter = np.asarray(m[cl].multiply(m[cr]).sum(axis=1)).ravel()
    union = sizes[cl] + sizes[cr] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _weighted_jaccard(cache: ColumnCache, col: str, cl: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Jaccard of the word sets with word weights ``log(N / df)`` (inverse document frequency over the records'
    values, so a word every name carries weighs nothing); two values of zero total weight score 0."""
    m = cache.token_matrix(col)
    key = ("idf", col)
    if key not in cache._cache:
        codes = cache.codes(col)
        per_value = np.bincount(codes[codes >= 0], minlength=m.shape[0]).astype(np.float64)
        df = np.asarray(m.T @ per_value).ravel()
        n = max(per_value.sum(), 1.0)
        idf = np.log(n / np.maximum(df, 1.0))
        cache._cache[key] = (idf, np.asarray(m @ idf).ravel())
    idf, sizes = cache._cache[key]
    inter = np.asarray(m[cl].multiply(m[cr]) @ idf).ravel()
    union = sizes[cl] + sizes[cr] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def _dice(cache: ColumnCache, col: str, cl: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Dice coefficient of the Bloom filters of code pairs (both >= 0); two empty filters score 0."""
    words, ones = cache.bloom_words(col)
    inter = np.empty(len(cl), dtype=np.int64)
    for a in range(0, len(cl), _DICE_CHUNK):
        b = a + _DICE_CHUNK
        inter[a:b] = np.bitwise_count(words[cl[a:b]] & words[cr[a:b]]).sum(axis=1, dtype=np.int64)
    total = ones[cl] + ones[cr]
    return np.divide(2.0 * inter, total, out=np.zeros(len(cl)), where=total > 0)


def level_holds(
    cache: ColumnCache, level: LevelSpec, default_column: str, l_: np.ndarray, r_: np.ndarray
) -> np.ndarray:
    """Boolean array: does ``level`` hold for the pairs (l_, r_)?"""
    col = level.column or default_column
    t = level.threshold
    kind = level.type
    if kind == "exact":
        c = cache.codes(col)
        cl, cr = c[l_], c[r_]
        return (cl == cr) & (cl >= 0)
    if kind == "prefix":
        c = cache.prefix_codes(col, int(t))
        cl, cr = c[l_], c[r_]
        return (cl == cr) & (cl >= 0)
    if kind == "swapped":
        ca, cb = cache.joint_codes(col, level.other)
        return (ca[l_] == cb[r_]) & (cb[l_] == ca[r_]) & (ca[l_] >= 0) & (cb[l_] >= 0)
    if kind in ("date_swap", "date_diff"):
        y, m, d, days = cache.date_parts(col)
        if kind == "date_diff":
            diff = np.abs(days[l_] - days[r_])
            return np.nan_to_num(diff, nan=np.inf) <= t
        return (y[l_] >= 0) & (y[l_] == y[r_]) & (m[l_] == d[r_]) & (d[l_] == m[r_]) & (m[l_] != d[l_])
    if kind == "numeric_diff":
        x = cache.numbers(col)
        return np.nan_to_num(np.abs(x[l_] - x[r_]), nan=np.inf) <= t
    # string similarities over non-null code pairs
    c = cache.codes(col)
    cl, cr = c[l_], c[r_]
    out = np.zeros(len(l_), dtype=bool)
    ok = (cl >= 0) & (cr >= 0)
    if not ok.any():
        return out
    cl, cr = cl[ok], cr[ok]
    same = cl == cr
    if kind == "jaro_winkler":
        res = _string_scores(cache, col, cl, cr, JaroWinkler.similarity, score_cutoff=t) >= t
    elif kind == "levenshtein":
        res = _string_scores(cache, col, cl, cr, Levenshtein.distance, score_cutoff=int(t)) <= t
    elif kind == "damerau":
        res = _string_scores(cache, col, cl, cr, DamerauLevenshtein.distance, score_cutoff=int(t)) <= t
    elif kind == "token_set":
        res = _string_scores(cache, col, cl, cr, fuzz.token_set_ratio) >= 100 * t
    elif kind == "jaccard":
        res = _jaccard(cache, col, cl, cr) >= t
    elif kind == "weighted_jaccard":
        res = _weighted_jaccard(cache, col, cl, cr) >= t
    elif kind == "dice":
        res = _dice(cache, col, cl, cr) >= t
    else:  # pragma: no cover - config validation forbids other types
        raise LinkageError(f"compare: unknown level type '{kind}'")
    out[ok] = res | same
    return out


def compare_one(cache: ColumnCache, spec: ComparisonSpec, l_: np.ndarray, r_: np.ndarray) -> np.ndarray:
    """int8 gamma of one comparison for the pairs (l_, r_)."""
    n_levels = len(spec.levels)
    if n_levels > 120:
        raise LinkageError(f"compare: comparison '{spec.name}' has too many levels")
    null = np.zeros(len(l_), dtype=bool)
    for col in spec.null_columns or [spec.column]:
        c = cache.codes(col)
        null |= (c[l_] < 0) | (c[r_] < 0)
    gamma = np.full(len(l_), n_levels, dtype=np.int8)
    gamma[null] = NULL_LEVEL
    todo = np.flatnonzero(~null)
    for i, level in enumerate(spec.levels):
        if len(todo) == 0:
            break
        holds = level_holds(cache, level, spec.column, l_[todo], r_[todo])
        gamma[todo[holds]] = i
        todo = todo[~holds]
    return gamma


def compare(
    records: pd.DataFrame, pairs: pd.DataFrame, comparisons: Sequence[ComparisonSpec],
    cache: ColumnCache | None = None,
) -> pd.DataFrame:
    """int8 gamma columns (one per comparison, named by comparison name), aligned with ``pairs``."""
    cache = cache or ColumnCache(records)
    l_ = pairs[LEFT].to_numpy(np.int64)
    r_ = pairs[RIGHT].to_numpy(np.int64)
    out = {spec.name: compare_one(cache, spec, l_, r_) for spec in comparisons}
    return pd.DataFrame(out, index=pairs.index, columns=[s.name for s in comparisons])


def spec_columns(spec: ComparisonSpec) -> list[str]:
    """Every record column a comparison reads (its column, null columns, level columns and others)."""
    cols = [spec.column, *(spec.null_columns or [])]
    cols += [lv.column for lv in spec.levels if lv.column] + [lv.other for lv in spec.levels if lv.other]
    return list(dict.fromkeys(cols))
