"""Which distinct values of a conflict field lie within an edit tolerance of each other, found without comparing
every value with every other.

Rule: two values are *near* when their Damerau-Levenshtein distance (``rapidfuzz``, as clustering measures it)
is at most ``tolerance``. Candidates are the values sharing a deletion variant (the value with up to
``tolerance`` characters removed, the value itself included): a substitution, an insertion or deletion, or a
swap of two neighbouring characters each leaves a variant both values share, so no near pair is missed; each
candidate is then measured. The result is a set of pairs of value codes: clustering can decide "do these two
values differ" from it without holding the values.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein

MAX_TOLERANCE = 3  # variants grow as length^tolerance: beyond this a tolerance is not an edit tolerance


def _deletions(values, owner: np.ndarray):
    """Every value (an Arrow string array) with one character removed, each position in turn, with the code it
    came from."""
    import pyarrow as pa
    import pyarrow.compute as pc

    lengths = pc.utf8_length(values).to_numpy(zero_copy_only=False)
    out, own = [], []
    for i in range(int(lengths.max()) if len(values) else 0):
        at = lengths > i
        v = values.filter(pa.array(at))
        out.append(pc.binary_join_element_wise(pc.utf8_slice_codeunits(v, 0, i), pc.utf8_slice_codeunits(v, i + 1),
                                               pa.scalar("", pa.large_string())))
        own.append(owner[at])
    if not out:
        return pa.array([], pa.large_string()), np.empty(0, np.int64)
    return pa.concat_arrays(out), np.concatenate(own)


def _variants(text: np.ndarray, tolerance: int) -> tuple[np.ndarray, np.ndarray]:
    """Every value and its deletion variants up to ``tolerance`` deep, as (variant id, code of its value)."""
    import pyarrow as pa

    values = pa.array(text, type=pa.large_string())
    variants, owners = [values], [np.arange(len(text), dtype=np.int64)]
    for _ in range(tolerance):
        frontier, owner = _deletions(variants[-1], owners[-1])
        variants.append(frontier)
        owners.append(owner)
    ids = pa.concat_arrays(variants).dictionary_encode().indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return ids, np.concatenate(owners)


def _fixed_width_variants(text: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
    """:func:`_variants` at a tolerance of 1 for values all of one length from 2 to 9 ASCII characters (an NI
    number's shape), in whole arrays: each one-character deletion packed into one integer. (None, None) for
    other values. Values of one length share a deletion only with one another, so the values themselves are
    left out."""
    n = len(text)
    joined = "".join(text)
    width = len(joined) // n if n else 0
    if not n or not 2 <= width <= 9 or len(joined) != n * width or not joined.isascii() \
            or not (pd.Series(text).str.len().to_numpy() == width).all():
        return None, None
    chars = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(n, width)
    packed = np.zeros((width, n, 8), dtype=np.uint8)
    for i in range(width):
        packed[i, :, : width - 1] = np.delete(chars, i, axis=1)
    keys = packed.reshape(width * n, 8).view(np.uint64).ravel()
    ids = pd.factorize(keys)[0].astype(np.int64)
    return ids, np.tile(np.arange(n, dtype=np.int64), width)


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def near_pairs(uniques: np.ndarray, tolerance: int) -> np.ndarray:
    """``(k, 2)`` int64 array of the code pairs ``(a, b)``, ``a < b``, of ``uniques`` (distinct values, code =
    position) within ``tolerance`` edits of each other, sorted. Empty for a tolerance of 0."""
    if tolerance <= 0 or len(uniques) < 2:
        return np.empty((0, 2), np.int64)
    if tolerance > MAX_TOLERANCE:
        raise ValueError(f"near_pairs: tolerance above {MAX_TOLERANCE}")
    text = np.asarray(uniques, dtype=object)
    if not all(isinstance(v, str) for v in text[:1]) or pd.api.types.infer_dtype(text, skipna=False) != "string":
        text = pd.Series(text).astype(str).to_numpy(dtype=object)
    n = len(text)
    ids, owners = _fixed_width_variants(text) if tolerance == 1 else (None, None)
    if ids is None:
        ids, owners = _variants(text, tolerance)
    keyed = _sorted_unique(ids * n + owners)  # (variant, code) once each, sorted by variant
    variant, code = keyed // n, keyed % n
    shared = np.r_[variant[1:] == variant[:-1], False] | np.r_[False, variant[1:] == variant[:-1]]
    if not shared.any():
        return np.empty((0, 2), np.int64)
    groups = pd.DataFrame({"v": variant[shared], "c": code[shared]})
    both = groups.merge(groups, on="v", suffixes=("_a", "_b"))
    both = both[both["c_a"].to_numpy() < both["c_b"].to_numpy()]
    pair = _sorted_unique(both["c_a"].to_numpy(np.int64) * n + both["c_b"].to_numpy(np.int64))
    if not len(pair):
        return np.empty((0, 2), np.int64)
    cand = np.stack([pair // n, pair % n], axis=1)
    dist = np.asarray(process.cpdist(text[cand[:, 0]], text[cand[:, 1]], scorer=DamerauLevenshtein.distance))
    return cand[dist <= tolerance]
