"""What each partner holds: which of the study's data items a partner records, and how completely.

A partner's config lists its data items (``SourceConfig.items``: data item -> the partner's own column
names). The study's items are in :data:`STUDY_ITEMS` (identifiers, demographics, employment, PACE
status, benefits, services, outcomes, consent); a partner may list other items too, shown after them.
A partner with no ``items`` falls back to the items its linkage ``columns`` imply
(:func:`default_items`).

Rules:

* **Completeness** of an item = share of the partner's *accepted* rows (after quarantine) with a
  non-blank value in any of the item's columns. Blank = empty or spaces only, or one of the
  "nothing recorded" tokens in :data:`BLANK_TOKENS` (case-insensitive), e.g. ``NULL`` or ``N/A``.
* An item the partner does not list is **not held** (``None``). An item whose columns are *all*
  missing from the file is also reported as not held, with a warning (naming the config file, the
  item and the column, never a value); the source itself never fails for it. If only some of an
  item's columns are missing, the item is judged on the columns present, with a warning.
* Computed once per source while its raw extract is still in memory (:func:`source_holdings`, through the
  :class:`Holdings` feature's hook after normalising); only counts are kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pace_linkage.config import SourceConfig
from pace_linkage.features import Feature
from pace_linkage.normalise._common import FAST_MIN_VALUES
from pace_linkage.normalise._vector import arrow_text, fullmatch
from pace_linkage.schema import LINE
from pace_linkage.study.holdings_report import HOLDINGS

# item -> (category, description), in report order
STUDY_ITEMS: dict[str, tuple[str, str]] = {
    "nino": ("identifiers", "National Insurance number"),
    "scn": ("identifiers", "Scottish Candidate Number"),
    "name": ("demographics", "forename / surname"),
    "dob": ("demographics", "date of birth"),
    "sex": ("demographics", "sex"),
    "ethnicity": ("demographics", "ethnic group"),
    "address": ("demographics", "address line"),
    "postcode": ("demographics", "home postcode"),
    "phone": ("demographics", "telephone"),
    "email": ("demographics", "e-mail address"),
    "employer": ("employment", "employer making the redundancies"),
    "redundancy_date": ("employment", "date of redundancy"),
    "pace_client": ("PACE", "flagged as a PACE client"),
    "pace_criterion": ("PACE", "PACE eligibility criterion"),
    "benefit_status": ("benefits", "benefit / Universal Credit status"),
    "services": ("services", "services received"),
    "service_date": ("services", "date of first service or contact"),
    "outcome": ("outcomes", "outcome (training, work, sustained job)"),
    "consent": ("consent", "consent to share with PACE partners"),
}
# canonical linkage field -> study item (for partners without an ``items`` list)
FIELD_ITEMS = {"nino": "nino", "client_id": "scn", "first_name": "name", "middle_name": "name", "surname": "name",
               "dob": "dob", "sex": "sex", "postcode": "postcode", "phone": "phone", "email": "email",
               "employer": "employer"}
BLANK_TOKENS = frozenset({"", "null", "none", "nan", "n/a", "na", "-", "unknown", "not known"})


def default_items(src: SourceConfig) -> dict[str, list[str]]:
    """The study items implied by a source's linkage ``columns`` (used when it lists no ``items``)."""
    out: dict[str, list[str]] = {}
    for field in src.columns:
        item = FIELD_ITEMS.get(field)
        for col in src.columns_of(field) if item else ():
            if col not in out.setdefault(item, []):
                out[item].append(col)
    return out


def items_of(src: SourceConfig) -> dict[str, list[str]]:
    return dict(src.items) if src.items else default_items(src)


def non_blank(column: pd.Series) -> np.ndarray:
    """Boolean per cell: holds a value (see :data:`BLANK_TOKENS`)."""
    codes, uniques = pd.factorize(column, use_na_sentinel=True)  # judge each distinct value once
    uniques = np.asarray(uniques, dtype=object)
    held = np.ones(len(uniques) + 1, dtype=bool)
    held[-1] = False  # code -1 (null) -> last slot: blank
    todo = np.arange(len(uniques))
    if len(uniques) >= FAST_MIN_VALUES:
        todo = np.flatnonzero(~judged_at_once(uniques, held))
    text = pd.Series(uniques[todo], dtype=object).astype(str).str.strip().str.lower()
    held[todo] = ~text.isin(BLANK_TOKENS).to_numpy()
    return held[codes]


_ASCII_SPACE = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.strip() removes from ASCII text
_TOKENS = pa.array(sorted(BLANK_TOKENS), type=pa.string())


def judged_at_once(uniques: np.ndarray, held: np.ndarray) -> np.ndarray:
    """Boolean per distinct value: judged here, its verdict written to ``held``. ASCII text is trimmed,
    lower-cased and looked up by whole-array kernels (for ASCII they are ``str.strip().lower()`` exactly);
    other text is ruled out at once where it cannot be a token (:func:`could_be_blank`); the rest, and anything
    but text, is left to the caller's rule."""
    judged = np.zeros(len(uniques), dtype=bool)
    if pd.api.types.infer_dtype(uniques, skipna=False) == "string":  # all text (one C-level pass)
        is_text = np.arange(len(uniques))
    else:
        is_text = np.flatnonzero(np.fromiter((type(u) is str for u in uniques), dtype=bool, count=len(uniques)))
    arr = arrow_text(uniques[is_text])
    if arr is None or not len(arr):
        return judged
    ascii_ = np.asarray(pc.string_is_ascii(arr), dtype=bool)
    token = np.asarray(pc.is_in(pc.ascii_lower(pc.utf8_trim(arr, characters=_ASCII_SPACE)), value_set=_TOKENS),
                       dtype=bool)
    held[is_text[ascii_]] = ~token[ascii_]
    judged[is_text[ascii_]] = True
    rest = is_text[~ascii_]
    if len(rest):
        judged[rest[~could_be_blank(uniques[rest])]] = True  # held already
    return judged


_LONGEST_TOKEN = max(map(len, BLANK_TOKENS))


def could_be_blank(uniques: np.ndarray) -> np.ndarray:
    """Boolean per distinct value: not ruled out as a blank token at once. Text no longer than the longest
    token, or with anything but printable ASCII at either end, may strip to one; anything else (numbers, dates,
    longer trimmed text) is judged one by one."""
    maybe = np.ones(len(uniques), dtype=bool)
    is_text = np.flatnonzero(np.fromiter((type(u) is str for u in uniques), dtype=bool, count=len(uniques)))
    arr = arrow_text(uniques[is_text])
    if arr is not None and len(arr):
        short = np.asarray(pc.less_equal(pc.utf8_length(arr), _LONGEST_TOKEN), dtype=bool)
        maybe[is_text] = short | ~fullmatch(arr, r"[!-~](?s:.*[!-~])?")
    return maybe


def source_holdings(frame: pd.DataFrame, header: Iterable[str], items: Mapping[str, list[str]],
                    accepted_lines: pd.Series, *, where: str, file: str) -> dict:
    """Counts for one source: ``{"rows": accepted rows, "items": {item: rows with a value, or None
    when not held}, "warnings": [...]}``. ``frame`` is the raw extract (one text column per header name,
    indexed by line); only rows whose line is in ``accepted_lines`` count."""
    have = set(header)
    accepted = frame.index.isin(set(accepted_lines.tolist()))
    n = int(accepted.sum())
    counts: dict[str, int | None] = {}
    warnings: list[str] = []
    cache: dict[str, np.ndarray] = {}
    for item, cols in items.items():
        present = [c for c in cols if c in have]
        for c in cols:
            if c not in have:
                shown = "not held" if not present else "judged on its other columns"
                warnings.append(f"{where}: items.{item}: column '{c}' not found in {file}; {shown}")
        if not present:
            counts[item] = None
            continue
        mask = np.zeros(len(frame), dtype=bool)
        for c in present:
            if c not in cache:
                cache[c] = non_blank(frame[c])
            mask |= cache[c]
        counts[item] = int((mask & accepted).sum())
    return {"rows": n, "items": counts, "warnings": warnings}


def item_order(items: Iterable[str]) -> list[str]:
    """Study items in :data:`STUDY_ITEMS` order, then any others alphabetically."""
    seen = set(items)
    return [i for i in STUDY_ITEMS if i in seen] + sorted(seen - set(STUDY_ITEMS))


def build_holdings(per_source: Mapping[str, dict | None]) -> dict:
    """Metrics entries from each source's :func:`source_holdings` counts (sources sorted by name):

    * ``holdings``: {partner: {item: completeness rounded to 6 places, or None if not held}}, every
      partner listing the same items (every study item, then any other item a partner lists) in the
      same order;
    * ``holdings_items``: [{"item", "category", "description"}] for those items, in display order (a
      list, so the order survives ``metrics.json``'s sorted keys);
    * ``holdings_rows``: {partner: accepted rows} (the denominator, for small-count suppression);
    * ``holdings_warnings``: value-free lines about item columns missing from a file.
    """
    srcs = sorted(s for s, h in per_source.items() if h)
    items = item_order(set(STUDY_ITEMS) | {i for s in srcs for i in per_source[s]["items"]})
    holdings: dict[str, dict[str, float | None]] = {}
    for s in srcs:
        h = per_source[s]
        n = h["rows"]
        holdings[s] = {}
        for i in items:
            c = h["items"].get(i)
            holdings[s][i] = None if c is None else (round(c / n, 6) if n else 0.0)
    desc = [{"item": i, "category": STUDY_ITEMS.get(i, ("other", ""))[0], "description": STUDY_ITEMS.get(i, ("", ""))[1]}
            for i in items]
    warnings = [w for s in srcs for w in per_source[s]["warnings"]]
    return {"holdings": holdings, "holdings_items": desc,
            "holdings_rows": {s: int(per_source[s]["rows"]) for s in srcs}, "holdings_warnings": warnings}


class Holdings(Feature):
    """What each partner holds: counted per source after normalising (:func:`source_holdings`), gathered into the
    ``holdings`` metrics (:func:`build_holdings`) and shown in the report's "What each partner holds"."""

    name = "holdings"
    sections = (HOLDINGS,)

    def after_normalise(self, batch, accepted: pd.DataFrame, src: SourceConfig) -> dict:
        ext = batch.extract
        return source_holdings(ext.frame, ext.header, items_of(src), accepted[LINE],
                               where=src.config_file or "config", file=batch.file)

    def metrics(self, run, truth) -> dict:
        return build_holdings({b.source: b.extras.get(self.name) for b in run.batches})


HOLDINGS_FEATURE = Holdings()

__all__ = ["BLANK_TOKENS", "HOLDINGS_FEATURE", "STUDY_ITEMS", "Holdings", "build_holdings", "default_items",
           "item_order", "items_of", "non_blank", "source_holdings"]
