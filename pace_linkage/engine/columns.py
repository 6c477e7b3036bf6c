"""Per-column arrays of the records being compared, computed once per run, and the similarity kernels
that read them.

A :class:`ColumnCache` holds, per column, integer codes (equal values share a code, ``-1`` = null) and the
distinct values by code, parsed dates, numbers, word matrices and decoded Bloom filters. The kernels score
pairs of codes (both ``>= 0``): string similarities with ``rapidfuzz.process.cpdist`` (computed once per
distinct value pair when values repeat a lot), word-set Jaccard over a sparse token matrix (optionally with
inverse-document-frequency word weights), and the Dice coefficient of Bloom filters with
``np.bitwise_count``, in chunks.
"""

from __future__ import annotations

import base64
import binascii

import numpy as np
import pandas as pd
from rapidfuzz import process
from scipy import sparse

from pace_linkage.errors import LinkageError

_DEDUPE_MIN_PAIRS = 20_000  # below this, compute similarities pair by pair (vectorised) directly
_DICE_CHUNK = 1 << 18  # pairs per chunk of the Dice computation (bounds the temporary word arrays)
_THREADED_PAIRS = 50_000  # from this many pairs a similarity uses every core; below, starting threads costs more


def _cpdist(a: np.ndarray, b: np.ndarray, scorer, **kw) -> np.ndarray:
    """``rapidfuzz.process.cpdist`` of aligned values: on every core for many pairs, in this thread for few (the
    scores are the same either way)."""
    workers = -1 if len(a) >= _THREADED_PAIRS else 1
    return np.asarray(process.cpdist(a, b, scorer=scorer, workers=workers, **kw))


_ARROW_MIN_ROWS = 100_000  # a text column this long with many distinct values is coded through Arrow
_ARROW_PROBE = 10_000  # the leading values whose distinct share decides it
_ARROW_DISTINCT_SHARE = 0.05


def factorize_text(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize`` of a column (codes in order of first appearance, ``-1`` = null; the distinct values as
    str by code, as :meth:`ColumnCache.uniques` holds them). A long text column with many distinct values
    (judged from its leading values) is dictionary-encoded by Arrow instead, which gives the same codes and
    values in about half the time; anything Arrow cannot hold as UTF-8, and text holding a NUL character
    (pandas' hashing reads a string only up to one), goes the pandas way."""
    if (isinstance(values.dtype, pd.StringDtype) and len(values) >= _ARROW_MIN_ROWS
            and len(pd.unique(values.array[:_ARROW_PROBE])) > _ARROW_DISTINCT_SHARE * _ARROW_PROBE):
        import pyarrow as pa
        import pyarrow.compute as pc

        try:
            arr = pa.array(values.to_numpy(dtype=object, na_value=None), type=pa.large_string(), from_pandas=True)
        except (pa.ArrowException, UnicodeError):
            arr = None
        if arr is not None and not pc.any(pc.match_substring(arr, "\x00")).as_py():
            coded = pc.dictionary_encode(arr)
            codes = coded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
            return codes, np.asarray(coded.dictionary.to_numpy(zero_copy_only=False), dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    if isinstance(values.dtype, pd.StringDtype):  # every distinct value is a str already
        return codes.astype(np.int64), np.asarray(uniques.to_numpy(dtype=object), dtype=object)
    return codes.astype(np.int64), np.asarray([str(u) for u in uniques], dtype=object)


def _parse_dates(s: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(year, month, day, days since epoch) of each value (see :meth:`ColumnCache.date_parts`)."""
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
    return year, month, day, days


class ColumnCache:
    """Per-column derived arrays computed once per compare run (codes, strings, dates, numbers).

    ``known``: columns' codes and distinct values another cache derived from the same values (:meth:`coded`
    of a cache of these records or of some of their columns), taken as they are instead of coded again."""

    def __init__(self, records: pd.DataFrame, known: dict[str, tuple[np.ndarray, np.ndarray]] | None = None):
        self.records = records
        self._codes: dict = {}
        self._strings: dict = {}
        self._cache: dict = {}
        for col, (codes, uniques) in (known or {}).items():
            if col in records.columns and len(codes) == len(records):
                self._codes[col], self._strings[col] = codes, uniques

    def coded(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """The codes and distinct values of every column coded so far (for a later cache of the same records)."""
        return {col: (self._codes[col], self._strings[col]) for col in self._codes}

    def _col(self, col: str) -> pd.Series:
        if col not in self.records.columns:
            raise LinkageError(f"compare: column '{col}' not in the records")
        return self.records[col]

    def codes(self, col: str) -> np.ndarray:
        """Integer code per record (-1 = null); equal values share a code."""
        if col not in self._codes:
            self._codes[col], self._strings[col] = factorize_text(self._col(col))
        return self._codes[col]

    def uniques(self, col: str) -> np.ndarray:
        """The distinct non-null values of ``col`` as strings, indexed by code."""
        self.codes(col)
        return self._strings[col]

    def joint_codes(self, col_a: str, col_b: str) -> tuple[np.ndarray, np.ndarray]:
        """Codes of two columns in one shared code space (so values can be compared across columns)."""
        key = ("joint", col_a, col_b)
        if key not in self._cache and all(isinstance(self._col(c).dtype, pd.StringDtype) for c in (col_a, col_b)) \
                and not any(self._col(c).str.contains("\x00", regex=False).any() for c in (col_a, col_b)):
            # (pandas' hashing reads a string only up to a NUL character, so the column itself is searched: its
            # distinct values may already have merged a value with one holding a NUL; such text is coded as before)
            self._cache[key], self._cache[("joint_uniques", col_a, col_b)] = self._joint_from_codes(col_a, col_b)
        if key not in self._cache:
            a, b = self._col(col_a), self._col(col_b)
            both = pd.concat([a.astype(object), b.astype(object)], ignore_index=True)
            codes, uniques = pd.factorize(both, use_na_sentinel=True)
            codes = codes.astype(np.int64)
            self._cache[key] = (codes[: len(a)], codes[len(a):])
            self._cache[("joint_uniques", col_a, col_b)] = np.asarray([str(u) for u in uniques], dtype=object)
        return self._cache[key]

    def _joint_from_codes(self, col_a: str, col_b: str) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """:meth:`joint_codes` of two text columns from each one's codes: the codes of the concatenated
        columns in order of first appearance are the first column's codes, then the second's values not in
        the first numbered on in their own order of first appearance."""
        ua, ub = self.uniques(col_a), self.uniques(col_b)
        at = pd.Index(ua).get_indexer(ub)
        new = at < 0
        at[new] = len(ua) + np.arange(int(new.sum()))
        cb = self.codes(col_b)
        joint_b = np.where(cb >= 0, at[np.maximum(cb, 0)] if len(at) else -1, -1).astype(np.int64)
        return (self.codes(col_a), joint_b), np.concatenate([ua, ub[new]]).astype(object)

    def joint_scores(self, col_a: str, col_b: str, cl: np.ndarray, cr: np.ndarray, scorer, **kw) -> np.ndarray:
        """Scores of ``scorer`` for code pairs (both >= 0) in the shared code space of :meth:`joint_codes`,
        computed once per distinct pair."""
        self.joint_codes(col_a, col_b)
        uniq = self._cache[("joint_uniques", col_a, col_b)]
        inv, distinct = pd.factorize(cl * len(uniq) + cr)
        dl, dr = distinct // len(uniq), distinct % len(uniq)
        return _cpdist(uniq[dl], uniq[dr], scorer, **kw)[inv]

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
            if isinstance(s.dtype, pd.StringDtype):  # text: each distinct value parsed once, taken by code
                at = self.codes(col)
                parts = _parse_dates(pd.Series(self.uniques(col), dtype=s.dtype))
                self._cache[key] = tuple(np.append(p, -1 if p.dtype.kind == "i" else np.nan)[at] for p in parts)
            else:
                self._cache[key] = _parse_dates(s)
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

    # ---- similarity kernels over code pairs (both >= 0) ----------------------------------------------
    def string_scores(self, col: str, cl: np.ndarray, cr: np.ndarray, scorer, **kw) -> np.ndarray:
        """Scores of ``scorer`` for code pairs (both >= 0), computed once per distinct pair when useful."""
        uniq = self.uniques(col)
        if len(cl) >= _DEDUPE_MIN_PAIRS:
            combo = cl * len(uniq) + cr
            # cheap probe first: only dedupe when a sample already shows many repeated value pairs
            probe = combo[:: max(len(combo) // _DEDUPE_MIN_PAIRS, 1)]
            if len(pd.unique(probe)) > 0.7 * len(probe):
                return _cpdist(uniq[cl], uniq[cr], scorer, **kw)
            inv, distinct = pd.factorize(combo)
            if len(distinct) < 0.7 * len(cl):
                dl, dr = distinct // len(uniq), distinct % len(uniq)
                return _cpdist(uniq[dl], uniq[dr], scorer, **kw)[inv]
        return _cpdist(uniq[cl], uniq[cr], scorer, **kw)

    def jaccard(self, col: str, cl: np.ndarray, cr: np.ndarray) -> np.ndarray:
        """Jaccard similarity of the word sets of code pairs (both >= 0); two values without words score 0."""
        m = self.token_matrix(col)
        sizes = np.asarray(m.sum(axis=1)).ravel()
        inter = np.asarray(m[cl].multiply(m[cr]).sum(axis=1)).ravel()
        union = sizes[cl] + sizes[cr] - inter
        return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)

    def weighted_jaccard(self, col: str, cl: np.ndarray, cr: np.ndarray) -> np.ndarray:
        """Jaccard of the word sets with word weights ``log(N / df)`` (inverse document frequency over the
        records' values, so a word every name carries weighs nothing); two values of zero total weight score 0."""
        m = self.token_matrix(col)
        key = ("idf", col)
        if key not in self._cache:
            codes = self.codes(col)
            per_value = np.bincount(codes[codes >= 0], minlength=m.shape[0]).astype(np.float64)
            df = np.asarray(m.T @ per_value).ravel()
            n = max(per_value.sum(), 1.0)
            idf = np.log(n / np.maximum(df, 1.0))
            self._cache[key] = (idf, np.asarray(m @ idf).ravel())
        idf, sizes = self._cache[key]
        inter = np.asarray(m[cl].multiply(m[cr]) @ idf).ravel()
        union = sizes[cl] + sizes[cr] - inter
        return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)

    def dice(self, col: str, cl: np.ndarray, cr: np.ndarray) -> np.ndarray:
        """Dice coefficient of the Bloom filters of code pairs (both >= 0); two empty filters score 0."""
        words, ones = self.bloom_words(col)
        inter = np.empty(len(cl), dtype=np.int64)
        for a in range(0, len(cl), _DICE_CHUNK):
            b = a + _DICE_CHUNK
            inter[a:b] = np.bitwise_count(words[cl[a:b]] & words[cr[a:b]]).sum(axis=1, dtype=np.int64)
        total = ones[cl] + ones[cr]
        return np.divide(2.0 * inter, total, out=np.zeros(len(cl)), where=total > 0)
