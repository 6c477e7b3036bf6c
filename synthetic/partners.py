"""Partner extracts: which people each partner sees, its duplicate records, and how it writes them.

For each partner (``config/synthetic.yaml`` ``partners.<name>``): people are eligible if they live
in its ``areas`` and fall in its age band; each is seen with probability ``coverage``; a share
``duplicate_rate`` has more than one record (1 + a geometric number of extras). Records are
shuffled and numbered in the partner's id style (so the file is in record-id order, duplicates
scattered), corrupted by :mod:`synthetic.corrupt`, then rendered column by column in the partner's
conventions (case, sex codes, NI number spacing, phone format, date format or Excel date cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig, SourceConfig
from synthetic import corrupt
from synthetic.population import bits_to_labels
from synthetic.settings import (
    LINKAGE_ATTRIBUTES,
    ErrorRates,
    IdStyle,
    PartnerSettings,
    SynthSettings,
)

# What each attribute holds (used for the data dictionary).
ATTRIBUTES: dict[str, str] = {
    "record_id": "the partner's own record id (unique in the file)",
    "nino": "National Insurance number (may be temporary, a placeholder, mistyped or blank)",
    "title": "title (Mr, Mrs, Ms, Miss, Dr)",
    "first_name": "forename as recorded (may be an everyday form such as Rab for Robert)",
    "middle_name": "middle name(s)",
    "surname": "surname as recorded",
    "known_as": "preferred / everyday name",
    "dob": "date of birth",
    "sex": "sex",
    "postcode": "home postcode",
    "address_line": "first line of the home address",
    "email": "e-mail address",
    "phone": "telephone number",
    "client_id": "Scottish Candidate Number (people schooled in Scotland since the mid-1990s)",
    "employer": "employer making the redundancies, as written by the adviser",
    "employer_postcode": "postcode of the employer's site",
    "sector": "employer's sector",
    "redundancy_date": "date of redundancy (or expected date)",
    "pace_client": "flagged as a PACE client (Y/N)",
    "pace_criterion": "PACE criterion: under threat of redundancy / in receipt of PACE services",
    "consent": "consent to share with PACE partners",
    "consent_date": "date consent was given",
    "services": "services received ('; '-separated)",
    "service_date": "date of first service / claim / appointment",
    "outcome": "outcome (entered training, entered work, job sustained 13/26 weeks)",
    "outcome_date": "date of the outcome",
    "feedback_score": "client feedback score 1-5",
    "ethnicity": "ethnic group (where recorded)",
    "uc_status": "benefit / Universal Credit status",
    "jcp_office": "Jobcentre Plus office",
    "bureau": "Citizens Advice bureau",
    "course_code": "course code",
    "course_title": "course title",
    "funding": "funding stream",
    "debt_level": "total debt band",
    "union": "trade union",
    "channel": "appointment channel",
    "pension_pots": "number of pension pots",
    "support_hours": "hours of support delivered",
    "created": "date the record was created",
    "updated": "date the record was last updated",
    "extract_date": "date of the extract",
}
EMPLOYER_ATTRIBUTES: dict[str, str] = {
    "record_id": "the partner's own employer account id",
    "name": "business name as the partner records it",
    "address_line": "site address",
    "town": "town",
    "site_postcode": "site postcode",
    "sector": "sector",
    "number_affected": "number of employees affected",
    "announcement_date": "date the redundancies were announced / first contact",
    "contact_name": "HR or business contact",
    "contact_phone": "contact telephone",
    "contact_email": "contact e-mail",
    "services": "support delivered to the business",
    "support_hours": "hours of support delivered",
    "consent": "consent to share",
    "company_number": "Companies House registered number (8 characters, SC prefix for Scottish companies)",
}
DATE_ATTRIBUTES = {
    "dob",
    "redundancy_date",
    "consent_date",
    "service_date",
    "outcome_date",
    "created",
    "updated",
    "extract_date",
    "announcement_date",
}
NAME_FIELDS = ["first_name", "middle_name", "surname"]
COURSES = np.array(
    [
        ("NC-ENG-5", "NC Engineering Practice SCQF 5"),
        ("HNC-CMP", "HNC Computing"),
        ("NPA-HGV", "NPA Logistics and HGV Driving"),
        ("SVQ-HSC3", "SVQ Health and Social Care SCQF 7"),
        ("NC-BUS-6", "NC Business SCQF 6"),
        ("CSCS-1D", "Construction Skills Certificate"),
        ("ESOL-4", "ESOL SCQF 4"),
        ("NC-ELEC-5", "NC Electrical Skills SCQF 5"),
        ("PDA-ACC", "PDA Accounting"),
        ("SHORT-DIG", "Digital Skills for Work (short course)"),
    ],
    dtype=object,
)
UNIONS = np.array(["Unite", "GMB", "UNISON", "Usdaw", "CWU", "PCS", "Prospect", "Community"], dtype=object)
DEBT_BANDS = np.array(["Under £1,000", "£1,000 to £5,000", "£5,000 to £15,000", "Over £15,000"], dtype=object)
CHANNELS = np.array(["Telephone", "Face to face", "Online"], dtype=object)
FUNDING = np.array(["PACE", "SFC mainstream", "Flexible Workforce Development Fund"], dtype=object)

# Person columns the record frame carries besides the linkage fields.
_HELPERS = [
    "person_id",
    "sex",
    "nickname",
    "former_surname",
    "previous_postcode",
    "old_phone",
    "nino_kind",
    "service_bits",
    "service_date",
    "announcement_date",
    "town",
    "area",
]


# --------------------------------------------------------------------------------------------------
# Which people, how many records
# --------------------------------------------------------------------------------------------------
def select_people(
    people: pd.DataFrame,
    part: PartnerSettings,
    rng: np.random.Generator,
    ref: np.datetime64,
    duplicate_multiplier: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return (person row index per record, occurrence number 0.. per record) in file order."""
    n = len(people)
    eligible = np.ones(n, dtype=bool)
    if part.areas:
        eligible &= people["area"].isin(part.areas).to_numpy()
    age = (ref - people["dob"].to_numpy().astype("datetime64[D]")).astype(np.int64) / 365.25
    if part.min_age is not None:
        eligible &= age >= part.min_age
    if part.max_age is not None:
        eligible &= age < part.max_age + 1
    seen = np.flatnonzero(eligible & (rng.random(n) < part.coverage))
    dup_rate = min(0.95, part.duplicate_rate * duplicate_multiplier)
    extra = np.where(rng.random(len(seen)) < dup_rate, rng.geometric(0.7, len(seen)), 0)
    idx = np.repeat(seen, 1 + extra)
    occurrence = np.arange(len(idx)) - np.repeat(np.cumsum(1 + extra) - (1 + extra), 1 + extra)
    order = rng.permutation(len(idx))
    return idx[order], occurrence[order]


def record_ids(n: int, style: IdStyle, rng: np.random.Generator) -> np.ndarray:
    """Increasing ids with random gaps of 1..max_gap: prefix + zero-padded number."""
    gaps = rng.integers(1, style.max_gap + 1, n)
    if n == 0:  # a partner that sees nobody (small populations)
        return np.array([], dtype=object)
    nums = style.start + np.cumsum(gaps) - (gaps[0] if n else 0)
    return np.char.add(style.prefix, np.char.zfill(nums.astype(str), style.width)).astype(object)


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------
def build_records(
    name: str, people: pd.DataFrame, settings: SynthSettings, profile: str, rng: np.random.Generator
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The partner's records (clean values copied from the people, then corrupted) and the masks of
    the errors applied."""
    part = settings.partners[name]
    ref = np.datetime64(settings.reference_date, "D")
    prof = settings.profiles[profile]
    idx, occurrence = select_people(people, part, rng, ref, prof.duplicate_multiplier)
    attrs = set(part.columns.values())
    holds = attrs & LINKAGE_ATTRIBUTES
    wanted = list(
        dict.fromkeys([*sorted(LINKAGE_ATTRIBUTES), *_HELPERS, *[a for a in people.columns if a in attrs]])
    )
    rec = people.iloc[idx][[c for c in wanted if c in people.columns]].reset_index(drop=True)
    rec["record_id"] = record_ids(len(rec), part.id, rng)
    rec["occurrence"] = occurrence
    target = "phone" if "phone" in holds else "middle_name" if "middle_name" in holds else None
    applied = corrupt.apply_value_errors(
        rec, settings.errors_for(name, profile), settings.missing_for(name, profile), rng, ref, holds, target
    )
    _record_dates(rec, applied["stale"], rng, ref)
    return rec, applied


def _record_dates(rec: pd.DataFrame, stale: np.ndarray, rng: np.random.Generator, ref: np.datetime64) -> None:
    """created: around the first service (repeat records later); stale records were created years
    earlier and never updated."""
    n = len(rec)
    service = rec["service_date"].to_numpy().astype("datetime64[D]")
    created = service - rng.integers(0, 30, n).astype("timedelta64[D]")
    later = rec["occurrence"].to_numpy() > 0
    created = np.where(later, created + rng.integers(20, 400, n).astype("timedelta64[D]"), created)
    created = np.where(stale, created - rng.integers(365, 1800, n).astype("timedelta64[D]"), created)
    created = np.minimum(created, ref)
    span = (ref - created).astype(np.int64)
    updated = created + (rng.random(n) * (span + 1)).astype(np.int64).astype("timedelta64[D]")
    updated = np.where(stale, created, updated)
    rec["created"] = created.astype("datetime64[s]")
    rec["updated"] = updated.astype("datetime64[s]")


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------
def date_format(src: SourceConfig, pace: PaceConfig) -> str:
    """The partner's text date format: its ``formats.dob`` override, else the dob field default."""
    fmt = src.formats.get("dob")
    if fmt is None and "dob" in pace.fields:
        fmt = pace.fields["dob"].date_format
    return fmt or "%Y-%m-%d"


def format_dates(values: np.ndarray, fmt: str) -> np.ndarray:
    """Format dates (NaT -> None) once per distinct day."""
    d = np.asarray(values).astype("datetime64[D]")
    out = np.full(len(d), None, dtype=object)
    ok = ~np.isnat(d)
    if ok.any():
        uniq, inv = np.unique(d[ok], return_inverse=True)
        out[ok] = pd.DatetimeIndex(uniq).strftime(fmt).to_numpy(dtype=object)[inv]
    return out


def date_cells(values: np.ndarray) -> np.ndarray:
    """Python ``date`` objects for Excel date cells (NaT -> None)."""
    d = np.asarray(values).astype("datetime64[D]")
    out = np.full(len(d), None, dtype=object)
    ok = ~np.isnat(d)
    out[ok] = d[ok].astype(object)
    return out


def _case(values: pd.Series, style: str, rng: np.random.Generator) -> pd.Series:
    if style == "upper":
        return values.str.upper()
    if style == "as_entered":  # typed by the client on a web form: mostly as typed, some all lower/upper
        u = rng.random(len(values))
        out = values.where(u >= 0.08, values.str.lower())
        return out.where(~((u >= 0.08) & (u < 0.11)), values.str.upper())
    return values


def _nino(values: pd.Series, style: str) -> pd.Series:
    if style == "spaced":
        ok = values.str.match(r"^[A-Z]{2}\d{6}[A-Z]$", na=False)
        spaced = (
            values.str[:2]
            + " "
            + values.str[2:4]
            + " "
            + values.str[4:6]
            + " "
            + values.str[6:8]
            + " "
            + values.str[8:]
        )
        return spaced.where(ok, values)
    return values


def _phone(values: pd.Series, style: str) -> pd.Series:
    ok = values.str.match(r"^0\d{10}$", na=False)
    if style == "international":
        out = "+44" + values.str[1:]
    elif style == "spaced":
        city = values.str.match(r"^01[3-9]1", na=False)  # 0131, 0141 ...: 4-3-4
        out = (values.str[:5] + " " + values.str[5:]).where(
            ~city, values.str[:4] + " " + values.str[4:7] + " " + values.str[7:]
        )
    else:
        return values
    return out.where(ok, values)


def render(
    rec: pd.DataFrame,
    name: str,
    src: SourceConfig,
    pace: PaceConfig,
    settings: SynthSettings,
    profile: str,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """The partner's file as a frame of its own columns (text, None, or date/int cells for xlsx).

    Drawn in this order: whether consent is shown (97% of those who gave it) and each record's course, which
    several columns share; then each column in the partner's column order (:func:`_column`); then the
    presentation errors (:func:`_presentation_errors`).
    """
    part = settings.partners[name]
    n = len(rec)
    cells = src.format == "xlsx" and part.style.xlsx_dates == "cells"
    fmt = date_format(src, pace)
    consent = rec.get("consent", pd.Series(True, index=rec.index)).to_numpy(dtype=bool) & (
        rng.random(n) < 0.97
    )
    course_k = rng.integers(0, len(COURSES), n)
    rates = settings.errors_for(name, profile)
    r = _Rendering(rec, part, settings, src.format, cells, fmt, consent, course_k, rng)
    frame = pd.DataFrame({col: np.asarray(_column(attr, r), dtype=object) for col, attr in part.columns.items()})
    return frame, _presentation_errors(frame, rec, part, rates, cells, rng)


@dataclass(frozen=True)
class _Rendering:
    """What rendering one partner's columns needs: its records, settings and file, and the draws that
    several columns share."""

    rec: pd.DataFrame
    part: PartnerSettings
    settings: SynthSettings
    file_format: str
    cells: bool  # dates as Excel date cells, else text in ``fmt``
    fmt: str
    consent: np.ndarray  # consent shown (consent and consent_date agree)
    course_k: np.ndarray  # row of COURSES (course code and title agree)
    rng: np.random.Generator

    def dates(self, values) -> np.ndarray:
        """Dates as the partner's file holds them: date cells, or text in its format (NaT -> None)."""
        return date_cells(values) if self.cells else format_dates(values, self.fmt)


_PERSON_COLUMNS = {*NAME_FIELDS, "known_as", "nino", "sex", "phone", "postcode"}
_CASE_COLUMNS = {"pace_client", "consent", "services", "outcome", "feedback_score", "ethnicity"}
_DETAIL_COLUMNS = {"jcp_office", "bureau", "course_code", "course_title", "funding", "debt_level", "union",
                   "channel", "pension_pots", "support_hours"}


def _objects(series: pd.Series) -> pd.Series:
    """``series`` as objects, missing values None."""
    return series.astype(object).where(series.notna(), None)


def _column(attr: str, r: _Rendering) -> object:
    """The values of the partner's column holding ``attr``. The record id and plain person attributes
    (address line, e-mail, candidate number, employer, sector ...) are copied as they are."""
    if attr in _PERSON_COLUMNS:
        return _person_column(attr, r)
    if attr in DATE_ATTRIBUTES:
        return _date_column(attr, r)
    if attr in _CASE_COLUMNS:
        return _case_column(attr, r)
    if attr in _DETAIL_COLUMNS:
        return _detail_column(attr, r)
    if attr == "record_id":
        return r.rec["record_id"]
    return _objects(r.rec[attr])


def _person_column(attr: str, r: _Rendering) -> object:
    """Names in the partner's name case (``known_as``: the everyday name half the time, else the forename);
    NI number, sex and phone number in its style; the postcode as recorded, with case noise where the
    client typed it (name case ``as_entered``)."""
    rec, style, rng = r.rec, r.part.style, r.rng
    if attr == "known_as":
        v = _objects(rec["nickname"]).where(rng.random(len(rec)) < 0.5, None)
        v = v.where(v.notna(), _objects(rec["first_name"]))
        return _case(v, style.name_case, rng)
    if attr in NAME_FIELDS:
        return _case(_objects(rec[attr]), style.name_case, rng)
    if attr == "nino":
        return _nino(_objects(rec["nino"]), style.nino)
    if attr == "sex":
        return _objects(rec["sex"]).map(style.sex)
    if attr == "phone":
        return _phone(_objects(rec["phone"]), style.phone)
    v = _objects(rec["postcode"])
    return _case(v, style.name_case, rng) if style.name_case == "as_entered" else v


def _date_column(attr: str, r: _Rendering) -> np.ndarray:
    """A date column: the extract date is the reference date; the consent date shows only where consent
    does, the outcome date only where there is an outcome."""
    rec = r.rec
    if attr == "extract_date":
        values = np.full(len(rec), np.datetime64(r.settings.reference_date, "D"))
    elif attr == "consent_date":
        values = np.where(r.consent, rec["consent_date"].to_numpy().astype("datetime64[D]"), np.datetime64("NaT"))
    elif attr == "outcome_date":
        values = np.where(
            rec["outcome"].to_numpy() != "",
            rec["outcome_date"].to_numpy().astype("datetime64[D]"),
            np.datetime64("NaT"),
        )
    else:
        values = rec[attr].to_numpy()
    return r.dates(values)


def _case_column(attr: str, r: _Rendering) -> object:
    """The person's PACE case as the partner records it: PACE client flag (90% Y), consent (Y/N; true/false
    in JSON lines), the services received that the partner offers (else one it offers, at random), outcome,
    feedback score (blank where none was given), ethnicity (80% recorded)."""
    rec, rng, n = r.rec, r.rng, len(r.rec)
    if attr == "pace_client":
        return np.where(rng.random(n) < 0.9, "Y", "N").astype(object)
    if attr == "consent":
        return r.consent if r.file_format == "jsonl" else np.where(r.consent, "Y", "N").astype(object)
    if attr == "services":
        services = list(r.settings.services)
        offered = sum(1 << services.index(s) for s in r.part.services)
        labels = np.array([r.settings.services[s] for s in services], dtype=object)
        bits = rec["service_bits"].to_numpy() & offered
        fallback = np.array([1 << services.index(s) for s in r.part.services] or [0])
        bits = np.where(bits == 0, fallback[rng.integers(0, len(fallback), n)], bits)
        return bits_to_labels(bits, labels)
    if attr == "outcome":
        return _objects(rec["outcome"].where(rec["outcome"] != "", None))
    if attr == "feedback_score":
        fb = rec["feedback_score"].to_numpy()
        return np.where(fb > 0, fb.astype(str), None).astype(object)
    return _objects(rec["ethnicity"]).where(rng.random(n) < 0.8, None)


def _detail_column(attr: str, r: _Rendering) -> object:
    """The partner's own details: Jobcentre or bureau of the person's town, course code and title (of the
    same course), funding stream, debt band, union, channel, pension pots, support hours."""
    rec, rng, n = r.rec, r.rng, len(r.rec)
    if attr in ("jcp_office", "bureau"):
        town = rec["town"] if "town" in rec else pd.Series("", index=rec.index)
        return (town + (" Jobcentre" if attr == "jcp_office" else " CAB")).astype(object)
    if attr in ("course_code", "course_title"):
        return COURSES[r.course_k, 0 if attr == "course_code" else 1]
    if attr == "funding":
        return FUNDING[rng.choice(len(FUNDING), n, p=[0.6, 0.3, 0.1])]
    if attr == "debt_level":
        return DEBT_BANDS[rng.choice(len(DEBT_BANDS), n, p=[0.3, 0.35, 0.25, 0.1])]
    if attr == "union":
        return UNIONS[rng.integers(0, len(UNIONS), n)]
    if attr == "channel":
        return CHANNELS[rng.choice(len(CHANNELS), n, p=[0.55, 0.25, 0.2])]
    if attr == "pension_pots":
        return np.array(["1", "2", "3 or more", "Unknown"], dtype=object)[rng.choice(4, n, p=[0.35, 0.3, 0.25, 0.1])]
    return np.round(rng.gamma(1.5, 2.0, n), 1).astype(str).astype(object)  # support_hours


def _presentation_errors(
    frame: pd.DataFrame,
    rec: pd.DataFrame,
    part: PartnerSettings,
    rates: ErrorRates,
    cells: bool,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Apply the presentation errors to the rendered ``frame``; return their masks. ``spaces_case`` in a
    forename, surname or postcode column; ``excel_serial``: a date of birth written as its Excel serial
    number (an int cell in a date-cell workbook, else text), drawn whether or not the partner has a date
    of birth column (the mask is then all False)."""
    presentation: dict[str, np.ndarray] = {}
    noisy_cols = [c for c, a in part.columns.items() if a in ("first_name", "surname", "postcode")]
    presentation["spaces_case"] = corrupt.apply_presentation_errors(frame, noisy_cols, rates.spaces_case, rng)
    dob_cols = [c for c, a in part.columns.items() if a == "dob"]
    serial = corrupt.excel_serial_mask(rec["dob"], rates.excel_serial, rng)
    if dob_cols:
        serial_values = corrupt.excel_serial(rec.loc[serial, "dob"].to_numpy())
        frame.loc[serial, dob_cols[0]] = serial_values.astype(object) if cells else serial_values.astype(str)
    else:
        serial[:] = False
    presentation["excel_serial"] = serial
    return presentation
