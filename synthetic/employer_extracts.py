"""Employer extracts: the facts every partner shares about an employer, and each partner's employer records.

:func:`employer_registry` adds registered company numbers and second sites to the employers (from a stream of
its own, so the people's files do not change); :func:`employer_extract` draws one partner's employer records
from them: which employers it sees and how often, and how it writes them (name variants, the other site's
address, postcode slips, missing contacts, company number slips), with the truth kept apart.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from synthetic import corrupt
from synthetic.partners import format_dates, record_ids
from synthetic.settings import EmployerExtractSettings, EmployerRegistry

_INWARD = np.array(list("ABDEFGHJLNPQRSTUWXYZ"), dtype=object)  # letters used in inward codes
_LIMITED = r"(?:Ltd|Limited|plc|LLP)(?: \(.*\))?(?: \d+)?$"


def employer_registry(emp: pd.DataFrame, reg: EmployerRegistry, rng: np.random.Generator) -> pd.DataFrame:
    """The employers with the facts every partner shares added: ``company_number`` (limited companies, plcs
    and LLPs, share ``registered``; ``scottish`` of them SC / SO, the rest England and Wales: 8 digits / OC)
    and a second site (share ``multi_site``: ``site2_postcode`` in the district of another employer of the
    same area, with its own street and town). Drawn from ``rng`` alone, so the people are untouched."""
    n = len(emp)
    out = emp.copy()
    name = emp["name"].astype(str)
    llp = name.str.contains(r"\bLLP\b", regex=True).to_numpy()
    limited = name.str.contains(_LIMITED, regex=True).to_numpy() | llp
    registered = limited & (rng.random(n) < reg.registered)
    scottish = rng.random(n) < reg.scottish
    serial = rng.choice(np.arange(100_000, 800_000), n, replace=False)
    ew = rng.choice(np.arange(1_000_000, 15_000_000), n, replace=False)
    six = np.char.zfill(serial.astype(str), 6).astype(object)
    number = np.where(llp, np.where(scottish, "SO", "OC") + six,
                      np.where(scottish, "SC" + six, np.char.zfill(ew.astype(str), 8).astype(object)))
    out["company_number"] = np.where(registered, number, None).astype(object)

    multi = rng.random(n) < reg.multi_site
    area = emp["area"].to_numpy()
    other = np.arange(n)
    for i in np.flatnonzero(multi):  # one draw per multi-site employer (a few hundred at most)
        same = np.flatnonzero(area == area[i])
        other[i] = same[rng.integers(0, len(same))]
    outward = emp["site_postcode"].astype(str).str.split(" ").str[0].to_numpy(dtype=object)[other]
    inward = (rng.integers(0, 10, n).astype(str).astype(object) + _INWARD[rng.integers(0, 20, n)]
              + _INWARD[rng.integers(0, 20, n)])
    street = emp["address_line"].astype(str).str.split(" ", n=1).str[1].to_numpy(dtype=object)[other]
    number2 = rng.integers(1, 400, n).astype(str).astype(object)
    out["site2_postcode"] = np.where(multi, outward + " " + inward, None).astype(object)
    out["site2_address"] = np.where(multi, number2 + " " + street, None).astype(object)
    out["site2_town"] = np.where(multi, emp["town"].to_numpy(dtype=object)[other], None).astype(object)
    return out


def _company_number_slips(values: np.ndarray, ext: EmployerExtractSettings, rng: np.random.Generator,
                          error_multiplier: float) -> np.ndarray:
    """How a registered number is written: blank (``company_number_missing``); keyed wrongly
    (``company_number_error``: a digit changed, two adjacent digits swapped or the SC/SO prefix left off);
    formatted loosely (``company_number_format``: lower case with a space, or leading zeros lost)."""
    v = values.copy()
    has = np.array([x is not None for x in v], dtype=bool)
    m = len(v)
    blank = has & (rng.random(m) < min(0.95, ext.company_number_missing * error_multiplier))
    wrong = has & ~blank & (rng.random(m) < min(0.95, ext.company_number_error * error_multiplier))
    loose = has & ~blank & (rng.random(m) < ext.company_number_format)
    kind = rng.integers(0, 3, m)
    pos = rng.integers(3, 7, m)  # a digit position inside the number (never the prefix)
    digit = rng.integers(0, 10, m).astype(str)
    style = rng.integers(0, 2, m)
    for i in np.flatnonzero(wrong | loose):  # a few per extract
        x = str(v[i])
        if wrong[i]:
            if kind[i] == 0:
                x = x[: pos[i]] + (digit[i] if digit[i] != x[pos[i]] else str((int(digit[i]) + 1) % 10)) + x[pos[i] + 1:]
            elif kind[i] == 1:
                x = x[: pos[i]] + x[pos[i] + 1] + x[pos[i]] + x[pos[i] + 2:]
            elif x[:2].isalpha():
                x = x[2:]
        if loose[i]:
            x = (x[:2].lower() + " " + x[2:]) if x[:2].isalpha() and style[i] == 0 else x.lstrip("0") or x
        v[i] = x
    v[blank] = None
    return v


def employer_extract(
    emp: pd.DataFrame, ext: EmployerExtractSettings, rng: np.random.Generator, error_multiplier: float = 1.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(extract frame, truth frame [record_id, employer_id]) for one partner's employer records."""
    n = len(emp)
    seen = np.flatnonzero(rng.random(n) < ext.coverage)
    extra = (rng.random(len(seen)) < ext.duplicate_rate).astype(np.int64)
    idx = np.repeat(seen, 1 + extra)
    idx = idx[rng.permutation(len(idx))]
    e = emp.iloc[idx].reset_index(drop=True)
    m = len(e)
    ids = record_ids(m, ext.id, rng)
    name = e["name"].astype(object)
    vmask = rng.random(m) < min(0.95, ext.name_variant * error_multiplier)
    name = name.where(~vmask, pd.Series(corrupt.employer_variant(name, rng), dtype=object))
    site2 = e["site2_postcode"].notna().to_numpy() if "site2_postcode" in e else np.zeros(m, bool)
    moved = site2 & (rng.random(m) < ext.other_site) if ext.other_site > 0 and site2.any() else site2 & False
    for attr in ("site_postcode", "address_line", "town"):
        if attr in e:
            alt = {"site_postcode": "site2_postcode", "address_line": "site2_address", "town": "site2_town"}[attr]
            e[attr] = np.where(moved, e[alt].to_numpy(dtype=object), e[attr].to_numpy(dtype=object))
    pcs = e["site_postcode"].to_numpy(dtype=object)
    pmask = (rng.random(m) < min(0.95, ext.postcode_typo * error_multiplier)) & corrupt.confusion_eligible(
        pcs, corrupt.POSTCODE_OCR
    )
    pcs = pcs.copy()
    pcs[pmask] = corrupt.confuse(pcs[pmask], corrupt.POSTCODE_OCR, rng)
    no_contact = rng.random(m) < min(0.95, ext.missing_contact * error_multiplier)
    cols: dict[str, np.ndarray] = {}
    for col, attr in ext.columns.items():
        if attr == "record_id":
            v = ids
        elif attr == "name":
            v = name.to_numpy(dtype=object)
        elif attr == "site_postcode":
            v = pcs
        elif attr in ("contact_name", "contact_phone", "contact_email"):
            v = np.where(no_contact, None, e[attr].to_numpy(dtype=object))
        elif attr == "announcement_date":
            v = format_dates(e["announcement_date"].to_numpy(), ext.date_format)
        elif attr in ("number_affected", "support_hours"):
            v = e[attr].astype(str).to_numpy(dtype=object)
        elif attr == "consent":
            v = np.where(e["consent"].to_numpy(dtype=bool), "Y", "N").astype(object)
        elif attr == "company_number":
            v = _company_number_slips(e[attr].to_numpy(dtype=object), ext, rng, error_multiplier)
        else:
            v = e[attr].to_numpy(dtype=object)
        cols[col] = np.asarray(v, dtype=object)
    truth = pd.DataFrame({"record_id": ids, "employer_id": e["employer_id"].to_numpy(dtype=object)})
    return pd.DataFrame(cols), truth
