"""Redaction: the one place where values are rendered for humans.

Anything that shows a partner's value to a person (a list of top false positives, a clerical review
sheet) goes through these functions; logs, exceptions and the HTML report never show values at all.

Masking rules (each is total: None / NaN / pd.NA -> ""; a value that does not look like its kind is
masked *entirely*, character by character, keeping only spaces, so a malformed value never leaks):

* name      ``John McDonald`` -> ``J*** M*******``: first character of each word kept, every other
            character ``*``; words are separated by whitespace or hyphens, which are kept; lengths kept.
* nino      ``AB123456C`` -> ``AB****56C``: spaces removed, upper-cased; the prefix letters and the last
            two digits (and suffix letter) kept, the middle four digits masked. An 8-character stem
            ``AB123456`` -> ``AB****56``.
* postcode  ``EH1 2AB`` -> ``EH1 ***``: the outward code kept, the inward code masked (a missing space
            is restored first).
* postal_code (any country) ``1012AB`` -> ``10****``: the first two characters kept when the code has five or
            more (a region at most), else masked entirely.
* dob/date  ``1980-03-12`` -> ``1980-**-**``: only the year kept (date/datetime objects accepted).
* email     ``jo.smith@example.org`` -> ``j*******@*******.org``: first character and top-level domain.
* phone     every digit but the last two masked.
* id        every character but the last two masked.
* text      as name.  sex: shown as is (M/F/X carries no identity on its own).

CSV output: :func:`safe_csv_frame` neutralises spreadsheet formulas (OWASP "CSV injection") in every
text column of every CSV the pipeline writes. Small counts: :func:`suppress_small` (primary only);
two-way tables with margins (aggregate-only sharing): :func:`suppress_table` (primary and secondary).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

# --------------------------------------------------------------------------------------------------
# Value masking: one regex rule per kind, shared by the scalar and the Series version
# --------------------------------------------------------------------------------------------------
_NAME_TAIL = re.compile(r"(?<=[^\s-])[^\s-]")  # every char that follows a char of the same word
_ANY = re.compile(r"\S")
_NINO = re.compile(r"^([A-Z]{2})\d{4}(\d{2}[A-D]?)$")
_POSTCODE = re.compile(r"^([A-Z]{1,2}\d[A-Z\d]?) ?\d[A-Z]{2}$")
_ISO_DATE = re.compile(r"^(\d{4})-\d{2}-\d{2}(?:[ T].*)?$")
_EMAIL = re.compile(r"^(.)([^@]*)@(.+)\.([A-Za-z]{2,})$")
_KEEP_LAST2 = re.compile(r"\S(?=(?:\s*\S){2})")  # every non-space char with >= 2 more after it
_DIGIT_KEEP_LAST2 = re.compile(r"\d(?=(?:\D*\d){2})")


def _is_null(v: Any) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    try:
        return bool(isinstance(v, float) and np.isnan(v))
    except TypeError:
        return False


def _text(v: Any) -> str:
    if isinstance(v, _dt.datetime):
        return v.date().isoformat()
    if isinstance(v, _dt.date):
        return v.isoformat()
    return str(v)


def _stars(m: re.Match) -> str:
    return "*" * len(m.group(0))


def _mask_all(s: str) -> str:
    return _ANY.sub("*", s)


def mask_name(v: Any) -> str:
    """``John McDonald`` -> ``J*** M*******`` (first character of each word, lengths kept)."""
    return "" if _is_null(v) else _NAME_TAIL.sub("*", _text(v))


def mask_nino(v: Any) -> str:
    """``AB123456C`` -> ``AB****56C``; anything not NINO-shaped is masked entirely."""
    if _is_null(v):
        return ""
    s = re.sub(r"\s+", "", _text(v)).upper()
    m = _NINO.match(s)
    return f"{m.group(1)}****{m.group(2)}" if m else _mask_all(s)


def mask_postcode(v: Any) -> str:
    """``EH1 2AB`` -> ``EH1 ***`` (outward code kept); anything not postcode-shaped masked entirely."""
    if _is_null(v):
        return ""
    s = re.sub(r"\s+", " ", _text(v)).strip().upper()
    m = _POSTCODE.match(s)
    return f"{m.group(1)} ***" if m else _mask_all(s)


def mask_dob(v: Any) -> str:
    """``1980-03-12`` -> ``1980-**-**`` (year kept); a non-ISO date is masked entirely."""
    if _is_null(v):
        return ""
    s = _text(v).strip()
    m = _ISO_DATE.match(s)
    return f"{m.group(1)}-**-**" if m else _mask_all(s)


def mask_email(v: Any) -> str:
    """``jo.smith@example.org`` -> ``j*******@*******.org``."""
    if _is_null(v):
        return ""
    s = _text(v).strip()
    m = _EMAIL.match(s)
    if not m:
        return _mask_all(s)
    return f"{m.group(1)}{'*' * len(m.group(2))}@{'*' * len(m.group(3))}.{m.group(4)}"


def mask_phone(v: Any) -> str:
    """Every digit but the last two masked: ``07700 900123`` -> ``***** ****23`` (spacing kept)."""
    return "" if _is_null(v) else _DIGIT_KEEP_LAST2.sub("*", _text(v))


_AFTER_FIRST2 = re.compile(r"(?<=.{2})\S")
POSTAL_KEEP_FROM = 5  # a postal code shorter than this is masked entirely


def mask_postal_code(v: Any) -> str:
    """``1012AB`` -> ``10****``; a code of fewer than :data:`POSTAL_KEEP_FROM` characters masked entirely."""
    if _is_null(v):
        return ""
    s = _text(v).strip().upper()
    return _AFTER_FIRST2.sub("*", s) if len(s) >= POSTAL_KEEP_FROM else _mask_all(s)


NINO_LIKE = re.compile(r"([A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z])\d{4}(\d{2})", re.IGNORECASE)


def mask_nino_runs(v: Any) -> str:
    """A key shown whole (a record id), except that any run shaped like an NI number in it (prefix letters and
    six digits, anywhere) has its middle four digits masked: ``PW100063`` -> ``PW****63``, ``SDS-001234`` as
    it is. A partner may key its records by NI number; no raw one reaches a report."""
    return "" if _is_null(v) else NINO_LIKE.sub(lambda m: f"{m.group(1)}****{m.group(2)}", _text(v))


def mask_id(v: Any) -> str:
    """Every character but the last two masked: ``SDS-001234`` -> ``********34``."""
    return "" if _is_null(v) else _KEEP_LAST2.sub("*", _text(v))


def _as_is(v: Any) -> str:
    return "" if _is_null(v) else _text(v)


MASKERS: dict[str, Callable[[Any], str]] = {
    "name": mask_name,
    "text": mask_name,
    "nino": mask_nino,
    "postcode": mask_postcode,
    "postal_code": mask_postal_code,
    "dob": mask_dob,
    "date": mask_dob,
    "email": mask_email,
    "phone": mask_phone,
    "id": mask_id,
    "sex": _as_is,
    "org_name": mask_name,  # a business name may be a sole trader's own name
    "company_number": mask_id,
}


def mask_value(kind: str, v: Any) -> str:
    """Mask ``v`` by field kind (the ``kind`` of :class:`pace_linkage.config.FieldSpec`)."""
    try:
        masker = MASKERS[kind]
    except KeyError:
        raise ValueError(f"mask_value: unknown field kind '{kind}' (known: {', '.join(sorted(MASKERS))})") from None
    return masker(v)


def mask_series(kind: str, s: pd.Series) -> pd.Series:
    """Vectorised :func:`mask_value` over a column: same rules, nulls -> "", object dtype out."""
    if kind not in MASKERS:
        mask_value(kind, None)  # raises the ValueError
    null = s.isna().to_numpy()
    text = s.astype(object).where(~null, "")
    if kind in ("dob", "date") and pd.api.types.is_datetime64_any_dtype(s):
        text = s.dt.strftime("%Y-%m-%d").astype(object).where(~null, "")
    st = text.astype(str).str  # str(date) is ISO; str(datetime) is ISO date + time
    if kind in ("name", "text", "org_name"):
        out = st.replace(_NAME_TAIL, "*", regex=True)
    elif kind == "nino":
        compact = st.replace(r"\s+", "", regex=True).str.upper()
        out = compact.str.replace(_NINO, r"\1****\2", regex=True)
        out = out.where(compact.str.match(_NINO), compact.str.replace(_ANY, "*", regex=True))
    elif kind == "postcode":
        clean = st.replace(r"\s+", " ", regex=True).str.strip().str.upper()
        out = clean.str.replace(_POSTCODE, r"\1 ***", regex=True)
        out = out.where(clean.str.match(_POSTCODE), clean.str.replace(_ANY, "*", regex=True))
    elif kind == "postal_code":
        clean = st.strip().str.upper()
        out = clean.str.replace(_AFTER_FIRST2, "*", regex=True)
        out = out.where(clean.str.len() >= POSTAL_KEEP_FROM, clean.str.replace(_ANY, "*", regex=True))
    elif kind in ("dob", "date"):
        clean = st.strip()
        out = clean.str.replace(_ISO_DATE, r"\1-**-**", regex=True)
        out = out.where(clean.str.match(_ISO_DATE), clean.str.replace(_ANY, "*", regex=True))
    elif kind == "email":
        clean = st.strip()
        parts = clean.str.extract(_EMAIL)
        built = parts[0] + _star_runs(parts[1]) + "@" + _star_runs(parts[2]) + "." + parts[3]
        out = built.where(parts[0].notna(), clean.str.replace(_ANY, "*", regex=True))
    elif kind == "phone":
        out = st.replace(_DIGIT_KEEP_LAST2, "*", regex=True)
    elif kind in ("id", "company_number"):
        out = st.replace(_KEEP_LAST2, "*", regex=True)
    else:  # sex
        out = text.astype(str)
    return out.where(~null, "").astype(object)


def _star_runs(s: pd.Series) -> pd.Series:
    """A run of ``*`` as long as each string (null -> "")."""
    lengths = s.astype("string").str.len().fillna(0).astype(int).tolist()
    return pd.Series("*", index=s.index).str.repeat(lengths)


def mask_frame(df: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    """A copy of ``df`` with each column named in ``kinds`` masked by its kind."""
    out = df.copy()
    for col, kind in kinds.items():
        if col in out.columns:
            out[col] = mask_series(kind, out[col])
    return out


# --------------------------------------------------------------------------------------------------
# Small-count suppression
# --------------------------------------------------------------------------------------------------
SUPPRESSED = "*"


def suppress_small(count: Any, threshold: int) -> Any:
    """Statistical disclosure control: a count in 1..threshold-1 is shown as ``"*"``.

    0 stays 0 (an empty cell discloses nothing about a person); counts >= threshold, non-integers and
    everything when ``threshold`` <= 1 are returned unchanged. Booleans are not counts.
    """
    if threshold <= 1 or isinstance(count, bool) or not isinstance(count, int | np.integer):
        return count
    return SUPPRESSED if 0 < int(count) < threshold else count


def suppress_mapping(counts: Mapping[Any, Any], threshold: int) -> dict[Any, Any]:
    """:func:`suppress_small` over the values of a flat mapping of counts (nested mappings recursed)."""
    return {
        k: suppress_mapping(v, threshold) if isinstance(v, Mapping) else suppress_small(v, threshold)
        for k, v in counts.items()
    }


def suppress_frame(df: pd.DataFrame, threshold: int, columns: list[str] | None = None) -> pd.DataFrame:
    """A copy of ``df`` with small counts suppressed in ``columns`` (default: every integer column).

    Suppressed columns become object dtype (they mix ints and ``"*"``).
    """
    out = df.copy()
    if threshold <= 1:
        return out
    cols = columns if columns is not None else [
        c for c in out.columns if pd.api.types.is_integer_dtype(out[c]) and not pd.api.types.is_bool_dtype(out[c])
    ]
    for c in cols:
        values = out[c]
        small = (values > 0) & (values < threshold)
        out[c] = values.astype(object).where(~small.fillna(False).to_numpy(dtype=bool), SUPPRESSED)
    return out


# --------------------------------------------------------------------------------------------------
# Secondary suppression of two-way tables with margins (aggregate-only sharing)
# --------------------------------------------------------------------------------------------------
TOTAL = "Total"


def _graph(S: np.ndarray) -> tuple[list[tuple[int, int]], list[list[tuple[int, int]]]]:
    """The suppressed cells as a bipartite graph: vertex i < R for row i, R + j for column j; one edge per
    suppressed cell (row-major order). Returns (edges, adjacency as (neighbour, edge id) lists)."""
    n_rows, n_cols = S.shape
    edges = [(int(i), int(j)) for i, j in zip(*np.nonzero(S), strict=True)]
    adj: list[list[tuple[int, int]]] = [[] for _ in range(n_rows + n_cols)]
    for e, (i, j) in enumerate(edges):
        adj[i].append((n_rows + j, e))
        adj[n_rows + j].append((i, e))
    return edges, adj


def _first_bridge(S: np.ndarray) -> tuple[int, int] | None:
    """The first suppressed cell (row-major) lying on no cycle of the suppressed-cell graph, or None.

    Iterative Tarjan bridge search (lowlink over a DFS tree, the parent edge excluded by id)."""
    edges, adj = _graph(S)
    n = len(adj)
    disc, low = [-1] * n, [0] * n
    bridges: set[int] = set()
    clock = 0
    for root in range(n):
        if disc[root] != -1 or not adj[root]:
            continue
        disc[root] = low[root] = clock
        clock += 1
        stack = [(root, -1, 0)]  # (vertex, edge id it was reached by, next adjacency position)
        while stack:
            v, via, k = stack[-1]
            if k < len(adj[v]):
                stack[-1] = (v, via, k + 1)
                w, e = adj[v][k]
                if e == via:
                    continue
                if disc[w] == -1:
                    disc[w] = low[w] = clock
                    clock += 1
                    stack.append((w, e, 0))
                else:
                    low[v] = min(low[v], disc[w])
            else:
                stack.pop()
                if stack:
                    u = stack[-1][0]
                    low[u] = min(low[u], low[v])
                    if low[v] > disc[u]:
                        bridges.add(via)
    return edges[min(bridges)] if bridges else None


def _component(adj: list[list[tuple[int, int]]], start: int, skip: int) -> set[int]:
    seen, todo = {start}, [start]
    while todo:
        v = todo.pop()
        for w, e in adj[v]:
            if e != skip and w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


def _smallest(values: np.ndarray, candidates: np.ndarray) -> tuple[int, ...]:
    """Position of the smallest non-zero candidate (a zero one only if no other is left); ties go to the
    first position in row-major order."""
    for pool in (candidates & (values > 0), candidates):
        if pool.any():
            masked = np.where(pool, values, np.iinfo(np.int64).max)
            return tuple(int(x) for x in np.unravel_index(int(np.argmin(masked)), values.shape))
    raise AssertionError("no cell left to suppress")


def suppression_pattern(values: np.ndarray, threshold: int, force: np.ndarray | None = None) -> np.ndarray:
    """Which cells of a two-way table *with margins* to suppress (True), so that none can be worked out.

    ``values``: non-negative integers, shape (R + 1, C + 1), the last row holding column totals and the
    last column row totals (grand total bottom right). ``force``: cells to suppress whatever their value
    (e.g. a total suppressed in another table that publishes the same figure). Rules, in order:

    1. Primary: every cell, totals included, holding 1..threshold-1 (0 is never primary: an empty cell
       says nothing about a person; ``threshold`` <= 1 suppresses nothing).
    2. Secondary, by line: a row or column (the totals row and column included) with exactly one
       suppressed cell would give it away by subtraction, so its smallest non-zero unsuppressed cell is
       suppressed too (ties: the first in row-major order).
    3. Secondary, by cycle: a suppressed cell can still be solved exactly from several lines at once when
       it is a *bridge* of the graph whose vertices are the table's lines and whose edges are the
       suppressed cells (it lies on no cycle of suppressed cells). For such a cell, the smallest
       unsuppressed cell joining the two sides (non-zero preferred; ties row-major) is suppressed, which
       closes a cycle through it.

    Rules 2 and 3 repeat until nothing changes, so every suppressed cell lies on a cycle of suppressed
    cells: no cell is determined by the published figures (each line then also holds 0 or >= 2
    suppressed cells). What remains is *interval* disclosure: the published figures still bound each
    suppressed cell (by 0 and its line totals), as with any cell-suppression method.
    """
    v = np.asarray(values, dtype=np.int64)
    if v.ndim != 2 or v.shape[0] < 1 or v.shape[1] < 1:
        raise ValueError("suppression_pattern: a two-way table with margins is needed")
    if (v < 0).any():
        raise ValueError("suppression_pattern: counts must be non-negative")
    inner = v[:-1, :-1]
    if not (np.array_equal(inner.sum(axis=1), v[:-1, -1]) and np.array_equal(inner.sum(axis=0), v[-1, :-1])
            and int(inner.sum()) == int(v[-1, -1])):
        raise ValueError("suppression_pattern: the last row and column must be the table's totals")
    S = (v > 0) & (v < threshold) if threshold > 1 else np.zeros(v.shape, dtype=bool)
    if force is not None:
        S |= np.asarray(force, dtype=bool)
    while True:
        if _fix_one_line(v, S) or _fix_one_bridge(v, S):
            continue
        return S


def _fix_one_line(v: np.ndarray, S: np.ndarray) -> bool:
    """Rule 2 on the first line (rows, then columns) with exactly one suppressed cell."""
    for axis in (1, 0):  # axis 1: count along each row; axis 0: along each column
        lonely = np.flatnonzero(S.sum(axis=axis) == 1)
        if len(lonely):
            k = int(lonely[0])
            cand = np.zeros_like(S)
            if axis == 1:
                cand[k, :] = ~S[k, :]
            else:
                cand[:, k] = ~S[:, k]
            S[_smallest(v, cand)] = True
            return True
    return False


def _fix_one_bridge(v: np.ndarray, S: np.ndarray) -> bool:
    """Rule 3 on the first bridge cell (row-major)."""
    bridge = _first_bridge(S)
    if bridge is None:
        return False
    n_rows = S.shape[0]
    edges, adj = _graph(S)
    side = _component(adj, bridge[0], edges.index(bridge))  # the row's side once the bridge is cut
    rows_a = np.array([i in side for i in range(n_rows)], dtype=bool)
    cols_a = np.array([n_rows + j in side for j in range(S.shape[1])], dtype=bool)
    cand = ((rows_a[:, None] & ~cols_a[None, :]) | (~rows_a[:, None] & cols_a[None, :])) & ~S
    S[_smallest(v, cand)] = True
    return True


def suppress_table(table: pd.DataFrame, threshold: int, force: pd.DataFrame | np.ndarray | None = None,
                   total_label: str = TOTAL) -> pd.DataFrame:
    """``table`` (rows x columns of non-negative integer counts, no margins) with a totals row and column
    added (labelled ``total_label``) and every cell of :func:`suppression_pattern` shown as ``"*"``.

    ``force``: boolean cells (with margins, same shape as the result) to suppress whatever their value.
    The result is object dtype: Python ints and ``"*"``. Row and column order are kept.
    """
    if total_label in table.index or total_label in table.columns:
        raise ValueError(f"suppress_table: a row or column is already labelled '{total_label}'")
    inner = table.to_numpy(dtype=np.int64) if table.size else np.zeros(table.shape, dtype=np.int64)
    full = np.zeros((inner.shape[0] + 1, inner.shape[1] + 1), dtype=np.int64)
    full[:-1, :-1] = inner
    full[:-1, -1] = inner.sum(axis=1)
    full[-1, :-1] = inner.sum(axis=0)
    full[-1, -1] = inner.sum()
    forced = None if force is None else np.asarray(force, dtype=bool)
    S = suppression_pattern(full, threshold, forced)
    shown = full.astype(object)  # Python ints
    shown[S] = SUPPRESSED
    return pd.DataFrame(shown, index=[*table.index, total_label], columns=[*table.columns, total_label], dtype=object)


# --------------------------------------------------------------------------------------------------
# CSV formula neutralisation (OWASP CSV injection)
# --------------------------------------------------------------------------------------------------
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(series: pd.Series) -> pd.Series:
    """Prefix ``'`` to text cells starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return.

    A spreadsheet then shows the cell as text instead of evaluating it as a formula (OWASP CSV
    injection guidance). Non-text cells (numbers, nulls) are left untouched; returns a new Series.
    """
    if not _has_text(series):
        return series.copy()
    try:
        first = series.str.slice(0, 1)
    except AttributeError:  # an object column holding no strings at all
        return series.copy()
    risky = first.isin(FORMULA_STARTS).to_numpy(dtype=bool)
    if not risky.any():
        return series.copy()
    out = series.copy()
    out[risky] = "'" + series[risky].astype(str)
    return out


def _has_text(series: pd.Series) -> bool:
    return pd.api.types.is_object_dtype(series) or pd.api.types.is_string_dtype(series)


def safe_csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` safe to write as CSV: every object/string column (and the header) neutralised."""
    out = df.copy()
    for c in out.columns:
        if _has_text(out[c]):
            out[c] = neutralise_formula(out[c])
    out.columns = [safe_header(c) for c in out.columns]
    return out


def safe_header(label: Any) -> Any:
    """A column label as :func:`safe_csv_frame` writes it: ``'`` before a text label starting a formula."""
    return ("'" + label) if isinstance(label, str) and label.startswith(FORMULA_STARTS) else label


__all__ = [
    "FORMULA_STARTS",
    "MASKERS",
    "NINO_LIKE",
    "SUPPRESSED",
    "TOTAL",
    "mask_dob",
    "mask_email",
    "mask_frame",
    "mask_id",
    "mask_nino_runs",
    "mask_name",
    "mask_nino",
    "mask_phone",
    "mask_postal_code",
    "mask_postcode",
    "mask_series",
    "mask_value",
    "neutralise_formula",
    "safe_csv_frame",
    "safe_header",
    "suppress_frame",
    "suppress_mapping",
    "suppress_small",
    "suppress_table",
    "suppression_pattern",
]
