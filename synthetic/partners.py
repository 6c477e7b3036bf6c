"""Partner extracts: which people each partner sees, its duplicate records, and how it writes them.

For each partner (``config/synthetic.yaml`` ``partners.<name>``): people are eligible if they live
in its ``areas`` and fall in its age band; each is seen with probability ``coverage``; a share
``duplicate_rate`` has more than one record (1 + a geometric number of extras). Records are
shuffled and numbered in the partner's id style (so the file is in record-id order, duplicates
scattered), corrupted by :mod:`synthetic.corrupt`, then rendered column by column in the partner's
conventions (case, sex codes, NI number spacing, phone format, date format or Excel date cells).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pace_linkage.config import PaceConfig, SourceConfig
from synthetic import corrupt
from synthetic.population import bits_to_labels
from synthetic.settings import (
    LINKAGE_ATTRIBUTES,
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
    """The partner's file as a frame of its own columns (text, None, or date/int cells for xlsx)."""
    part = settings.partners[name]
    style = part.style
    n = len(rec)
    file_format = src.format
    cells = file_format == "xlsx" and style.xlsx_dates == "cells"
    fmt = date_format(src, pace)
    services = list(settings.services)
    offered = sum(1 << services.index(s) for s in part.services)
    labels = np.array([settings.services[s] for s in services], dtype=object)
    consent = rec.get("consent", pd.Series(True, index=rec.index)).to_numpy(dtype=bool) & (
        rng.random(n) < 0.97
    )
    course_k = rng.integers(0, len(COURSES), n)
    rates = settings.errors_for(name, profile)

    def dates(values) -> np.ndarray:
        return date_cells(values) if cells else format_dates(values, fmt)

    def obj(series: pd.Series) -> pd.Series:
        return series.astype(object).where(series.notna(), None)

    out: dict[str, object] = {}
    for col, attr in part.columns.items():
        if attr in NAME_FIELDS or attr == "known_as":
            if attr == "known_as":
                v = obj(rec["nickname"]).where(rng.random(n) < 0.5, None)
                v = v.where(v.notna(), obj(rec["first_name"]))
            else:
                v = obj(rec[attr])
            out[col] = _case(v, style.name_case, rng)
        elif attr == "nino":
            out[col] = _nino(obj(rec["nino"]), style.nino)
        elif attr == "sex":
            out[col] = obj(rec["sex"]).map(style.sex)
        elif attr == "phone":
            out[col] = _phone(obj(rec["phone"]), style.phone)
        elif attr == "postcode":
            v = obj(rec["postcode"])
            out[col] = _case(v, style.name_case, rng) if style.name_case == "as_entered" else v
        elif attr in DATE_ATTRIBUTES:
            if attr == "extract_date":
                values = np.full(n, np.datetime64(settings.reference_date, "D"))
            elif attr == "consent_date":
                values = np.where(
                    consent, rec["consent_date"].to_numpy().astype("datetime64[D]"), np.datetime64("NaT")
                )
            elif attr == "outcome_date":
                values = np.where(
                    rec["outcome"].to_numpy() != "",
                    rec["outcome_date"].to_numpy().astype("datetime64[D]"),
                    np.datetime64("NaT"),
                )
            else:
                values = rec[attr].to_numpy()
            out[col] = dates(values)
        elif attr == "record_id":
            out[col] = rec["record_id"]
        elif attr == "pace_client":
            out[col] = np.where(rng.random(n) < 0.9, "Y", "N").astype(object)
        elif attr == "consent":
            out[col] = consent if file_format == "jsonl" else np.where(consent, "Y", "N").astype(object)
        elif attr == "services":
            bits = rec["service_bits"].to_numpy() & offered
            fallback = np.array([1 << services.index(s) for s in part.services] or [0])
            bits = np.where(bits == 0, fallback[rng.integers(0, len(fallback), n)], bits)
            out[col] = bits_to_labels(bits, labels)
        elif attr == "outcome":
            out[col] = obj(rec["outcome"].where(rec["outcome"] != "", None))
        elif attr == "feedback_score":
            fb = rec["feedback_score"].to_numpy()
            out[col] = np.where(fb > 0, fb.astype(str), None).astype(object)
        elif attr == "ethnicity":
            out[col] = obj(rec["ethnicity"]).where(rng.random(n) < 0.8, None)
        elif attr in ("jcp_office", "bureau"):
            town = rec["town"] if "town" in rec else pd.Series("", index=rec.index)
            out[col] = (town + (" Jobcentre" if attr == "jcp_office" else " CAB")).astype(object)
        elif attr in ("course_code", "course_title"):
            out[col] = COURSES[course_k, 0 if attr == "course_code" else 1]
        elif attr == "funding":
            out[col] = FUNDING[rng.choice(len(FUNDING), n, p=[0.6, 0.3, 0.1])]
        elif attr == "debt_level":
            out[col] = DEBT_BANDS[rng.choice(len(DEBT_BANDS), n, p=[0.3, 0.35, 0.25, 0.1])]
        elif attr == "union":
            out[col] = UNIONS[rng.integers(0, len(UNIONS), n)]
        elif attr == "channel":
            out[col] = CHANNELS[rng.choice(len(CHANNELS), n, p=[0.55, 0.25, 0.2])]
        elif attr == "pension_pots":
            out[col] = np.array(["1", "2", "3 or more", "Unknown"], dtype=object)[
                rng.choice(4, n, p=[0.35, 0.3, 0.25, 0.1])
            ]
        elif attr == "support_hours":
            out[col] = np.round(rng.gamma(1.5, 2.0, n), 1).astype(str).astype(object)
        else:  # plain person attributes: address_line, email, client_id, employer, sector, ...
            out[col] = obj(rec[attr])
    frame = pd.DataFrame({c: np.asarray(v, dtype=object) for c, v in out.items()})

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
    return frame, presentation
