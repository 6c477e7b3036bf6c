"""How many record pairs: among ``n`` records, and within groups of records.

``n`` records make ``C(n, 2) = n (n - 1) / 2`` distinct pairs; records split into groups of sizes
``n_1 .. n_k`` make ``sum C(n_i, 2)`` pairs inside a group. Blocking (pairs a rule would generate), training
(pairs a link type allows), evaluation (true, predicted and correct pairs) and the study's figures all
count this way. The bottom layer of the package: numpy only.
"""

from __future__ import annotations

import numpy as np


def choose2(n):
    """``C(n, 2) = n (n - 1) / 2``: the pairs among ``n`` records. Elementwise for an array (its own integer
    dtype); exact for a Python int."""
    return n * (n - 1) // 2


def pairs_within_groups(sizes) -> int:
    """The pairs of records in the same group, for groups of the given sizes: ``sum C(n_i, 2)`` (int64)."""
    return int(choose2(np.asarray(sizes, dtype=np.int64)).sum())


def pairs_sharing_code(codes) -> int:
    """The pairs of records with the same code, for one integer code per record (``-1``: in no group, pairs
    with nothing)."""
    codes = np.asarray(codes, dtype=np.int64)
    codes = codes[codes >= 0]
    return pairs_within_groups(np.bincount(codes)) if len(codes) else 0


def distinct_ints(values) -> np.ndarray:
    """The distinct values of an integer array, ascending: ``np.unique(values)``, by sorting a copy. (NumPy's own
    ``unique`` without counts or indices goes through a hash table, several times slower than a sort once the
    values are many and mostly distinct, as record and cluster codes are.)"""
    s = np.sort(np.asarray(values).ravel())
    if len(s) < 2:
        return s
    keep = np.empty(len(s), dtype=bool)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]
