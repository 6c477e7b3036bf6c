"""Sharing agreements and consent: what each partner may send into the centre.

Per source, an optional ``sharing:`` block in its config says:

* ``consent_column`` / ``consent_values``: a row whose consent cell (trimmed, case-folded) is not one of
  ``consent_values`` is *withheld*: kept out of centralised linkage and every output, and counted in
  ``rows_withheld`` (so ``rows_in == rows_accepted + rows_quarantined + rows_withheld``).
* ``allowed_fields``: the canonical fields the partner shares into the centre. A mapped field outside this
  list is never read, so it appears in no output or intermediate file.
* ``expires``: the agreement's end date. A run after it fails with one :class:`SharingError` line naming
  the partner and the date, before anything is read.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig, SourceConfig
from pace_linkage.errors import InputError, SharingError
from pace_linkage.extract import Extract


def check_agreements(cfg: PaceConfig, today: dt.date | None = None) -> None:
    """Refuse the run if any source's agreement has expired (all expired partners in one error)."""
    today = today or dt.date.today()
    expired = [f"{s.config_file or 'config'}: sharing.expires: the agreement with '{s.name}' expired on "
               f"{s.sharing.expires.isoformat()}" for s in cfg.sources.items
               if s.sharing and s.sharing.expires and s.sharing.expires < today]
    if expired:
        raise SharingError(*expired)


def shared_view(src: SourceConfig) -> SourceConfig:
    """The source config restricted to the fields its agreement allows into the centre."""
    if not src.sharing or src.sharing.allowed_fields is None:
        return src
    allowed = set(src.sharing.allowed_fields)
    return src.model_copy(update={"columns": {f: c for f, c in src.columns.items() if f in allowed},
                                  "formats": {f: v for f, v in src.formats.items() if f in allowed}})


def restrict_raw(ext: Extract, src: SourceConfig) -> None:
    """Under an agreement with ``allowed_fields``, quarantined rows keep only the shared columns (record id
    and the allowed fields' columns); a row quarantined while reading (ragged, undecodable) cannot be split
    into columns, so its raw text is dropped and only its line and reasons are kept."""
    if not src.sharing or src.sharing.allowed_fields is None:
        return
    shared = {src.record_id, *src.columns.values()}
    ext.raw_header = [c for c in ext.header if c in shared]
    if len(ext.quarantine):
        ext.quarantine = ext.quarantine.assign(raw="")


def consent_mask(frame: pd.DataFrame, header: list[str], src: SourceConfig, file: str) -> np.ndarray:
    """True for rows that may be shared (consent recorded with an allowed value)."""
    if not src.sharing or not src.sharing.consent_column:
        return np.ones(len(frame), dtype=bool)
    col = src.sharing.consent_column
    if col not in header:
        raise InputError(f"{src.config_file or 'config'}: sharing.consent_column: column '{col}' not found in {file}")
    allowed = {v.strip().casefold() for v in src.sharing.consent_values}
    values = frame[col].astype(str).str.strip().str.casefold()
    return values.isin(allowed).to_numpy()
