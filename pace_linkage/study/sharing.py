"""Sharing agreements and consent: what each partner may send into the centre.

Per source, an optional ``sharing:`` block in its config says:

* ``consent_column`` / ``consent_values``: a row whose consent cell (trimmed, case-folded) is not one of
  ``consent_values`` is *withheld*: kept out of centralised linkage and every output, and counted in
  ``rows_withheld`` (so ``rows_in == rows_accepted + rows_quarantined + rows_withheld``).
* ``allowed_fields``: the canonical fields the partner shares into the centre. A mapped field outside this
  list is never read, so it appears in no output or intermediate file.
* ``expires``: the agreement's end date. A run after it fails with one :class:`SharingError` line naming
  the partner and the date, before anything is read.
* ``release_to``: what flows back out. Recipient partner (or ``*``: every other partner) -> fields of this
  partner's records the recipient may see, for the persons (pace ids) both of them hold
  (:func:`released_fields`). Everything else stays at the centre: by default a partner receives its own
  records with their pace id and nothing of anyone else's. The store keeps the released values in its
  ``released`` table (on PostgreSQL each partner's role reads only the rows addressed to it) and
  ``pace-linkage outbound`` writes one partner's view as a file (:func:`partner_outbound`).
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig, SourceConfig
from pace_linkage.errors import ConfigError, InputError, SharingError
from pace_linkage.features import Feature
from pace_linkage.ingest.extract import Extract
from pace_linkage.schema import KEY_COLUMNS, RECORD_ID, SOURCE
from pace_linkage.store.database import RUNS, open_store

TO_SOURCE, FROM_SOURCE = "to_source", "from_source"


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
    shared = {src.record_id, *src.source_columns()}
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


class Sharing(Feature):
    """The agreements at ingest: only the allowed fields are read (:func:`shared_view`), quarantined rows keep
    only shared columns (:func:`restrict_raw`), and rows without recorded consent are withheld
    (:func:`consent_mask`)."""

    name = "sharing"

    def source_view(self, src: SourceConfig) -> SourceConfig:
        return shared_view(src)

    def admit(self, extract: Extract, view: SourceConfig) -> np.ndarray:
        restrict_raw(extract, view)
        return consent_mask(extract.frame, extract.header, view, extract.file)


SHARING = Sharing()


def release_plan(cfg: PaceConfig) -> pd.DataFrame:
    """Every (``from_source``, ``to_source``, ``field``) the agreements release, ``*`` expanded to every
    other partner; sorted, without duplicates."""
    names = [s.name for s in cfg.sources.items]
    rows = [(s.name, to, field)
            for s in cfg.sources.items if s.sharing
            for recipient, fields in s.sharing.release_to.items()
            for to in ([n for n in names if n != s.name] if recipient == "*" else [recipient])
            for field in fields]
    return pd.DataFrame(sorted(set(rows)), columns=[FROM_SOURCE, TO_SOURCE, "field"], dtype="string")


def released_columns(id_column: str) -> list[str]:
    return [TO_SOURCE, id_column, FROM_SOURCE, "field", "value"]


def released_fields(records: pd.DataFrame, clusters: pd.DataFrame, cfg: PaceConfig,
                    id_column: str | None = None) -> pd.DataFrame:
    """What each partner may receive back about the persons it holds: one row per recipient, person,
    releasing partner, field and distinct value (as the centre holds it: normalised, or a token under
    pseudonymisation), sorted. A recipient gets a value only if one of its own records is in the same
    person, and only from a partner whose agreement releases that field to it; it never gets its own."""
    id_column = id_column or cfg.id_column
    cols = released_columns(id_column)
    plan = release_plan(cfg)
    fields = [f for f in plan["field"].unique() if f in records.columns]
    if plan.empty or not fields:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in cols})
    keyed = records[[*KEY_COLUMNS, *fields]].merge(clusters[[*KEY_COLUMNS, id_column]], on=KEY_COLUMNS,
                                                   how="inner", validate="one_to_one")
    holders = keyed[[SOURCE, id_column]].drop_duplicates().rename(columns={SOURCE: TO_SOURCE})
    parts = []
    for field in fields:  # a handful of fields; each step is a whole-column merge
        vals = keyed.loc[keyed[field].notna(), [SOURCE, id_column, field]]
        vals = vals.rename(columns={SOURCE: FROM_SOURCE, field: "value"})
        vals["value"] = vals["value"].astype("string")
        routes = plan.loc[plan["field"] == field, [FROM_SOURCE, TO_SOURCE]]
        part = vals.merge(routes, on=FROM_SOURCE).merge(holders, on=[TO_SOURCE, id_column])
        parts.append(part.assign(field=field))
    out = pd.concat(parts, ignore_index=True)[cols].astype("string").drop_duplicates()
    return out.sort_values(cols, kind="stable").reset_index(drop=True)


def outbound_view(clusters: pd.DataFrame, released: pd.DataFrame, partner: str, id_column: str) -> pd.DataFrame:
    """What ``partner`` may see, one row per item: its own records with their pace id (``record_id``,
    ``from_source`` = the partner, ``field`` empty), then what others release to it about those persons
    (``field`` and ``value``; one row per value). Columns: ``record_id``, the id, ``from_source``,
    ``field``, ``value``."""
    own = clusters.loc[clusters[SOURCE] == partner, [RECORD_ID, id_column]].astype("string")
    blank = pd.Series(pd.NA, index=own.index, dtype="string")
    own = own.assign(**{FROM_SOURCE: partner, "field": blank, "value": blank})
    got = released.loc[released[TO_SOURCE] == partner, [id_column, FROM_SOURCE, "field", "value"]].astype("string")
    got = own[[RECORD_ID, id_column]].merge(got, on=id_column)
    out = pd.concat([own, got], ignore_index=True).astype("string")
    order = [id_column, RECORD_ID, "field", FROM_SOURCE, "value"]
    return out.sort_values(order, kind="stable", na_position="first").reset_index(drop=True)[
        [RECORD_ID, id_column, FROM_SOURCE, "field", "value"]]


def partner_outbound(url: str | os.PathLike, partner: str, run_id: str | None = None) -> tuple[str, pd.DataFrame]:
    """``(run id, view)``: what ``partner`` may see of a run in the store at ``url`` (default: the run written
    last), as :func:`outbound_view` gives it: its own records with their pace id, and what other partners'
    agreements release to it. Names the partner and run only in errors, never a value."""
    with open_store(url, create=False) as st:
        run_id = st.last_run_id() if run_id is None else run_id
        if run_id is None or not st.has_table(RUNS):
            raise ConfigError(f"store {st.location}: no run stored yet")
        info = st.run_info(run_id)
        if info is None:
            raise ConfigError(f"store {st.location}: no run '{run_id}'")
        if partner not in info["sources"]:
            raise ConfigError(f"store {st.location}: run '{run_id}' has no partner '{partner}' "
                              f"(partners: {', '.join(info['sources']) or 'none'})")
        id_column = str(info["meta"].get("id_column", "pace_id"))
        clusters = st.read("clusters", run_id).drop(columns=["run_id"])
        released = (st.read("released", run_id).drop(columns=["run_id"]) if st.has_table("released")
                    else pd.DataFrame(columns=[TO_SOURCE, id_column, FROM_SOURCE, "field", "value"]))
    return str(run_id), outbound_view(clusters, released, partner, id_column)
