"""Benchmark: ``normalise_records`` on 1,000,000 rows of realistic raw values.

Builds (numpy-sampled, seeded) a frame of ~400,000 people seen ~2.5 times each across partners,
each sighting written the way a partner might: NINOs with/without spaces and suffix, some
lower-case, some placeholders; first names and surnames from pools with case noise, nicknames
and Mc/Mac variants; dates of birth in mixed formats (ISO, dd/mm/yyyy, dd-Mon-yyyy, yyyymmdd,
Excel serials, timestamps); postcodes with and without the space, some lower-case or with O/0
slips; sex codes. Times the stage and prints rows per second.

Same-run baseline: the package's scalar normalisers applied row by row (``Series.map`` over every
row, no unique-value dedupe) to the first ``--baseline-rows`` rows, producing the same columns
(nino + suffix; name, canon, soundex, initial; dob + year/month/day; postcode + area/district/sector;
sex). Its rows/s (extrapolated from the sample) and the ratio ours/baseline are printed, with a check
that both agree on the sample.

    .venv/bin/python benchmarks/bench_normalise.py [--rows 1000000] [--seed 1] [--baseline-rows 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import string
import time

import numpy as np
import pandas as pd

from pace_linkage import normalise as N
from pace_linkage.config import FieldSpec
from pace_linkage.normalise import normalise_records

FIRST = (
    "James John Robert William David Andrew Thomas Alexander Michael Stephen Jim Bob Sandy Iain Ian Callum Ewan "
    "Mary Margaret Catherine Elizabeth Sarah Anne Ann Jean Kirsty Fiona Shona Mhairi Eilidh Lesley Kate Liz Maggie "
    "Morag Ailsa Heather Gillian Lorraine Tracey Joanne Laura Emma Rachel Claire Karen Nicola Seán Zoë"
).split()
SURNAME = (
    "Smith Brown Wilson Campbell Stewart Thomson Robertson Anderson MacDonald McDonald Scott Reid Murray Taylor "
    "Clark Ross Watson Morrison Paterson Young Mitchell Walker Fraser Miller McLean MacLean Gray Henderson Hamilton "
    "Johnston Duncan Graham Ferguson Kerr Davidson Bell Cunningham Martin Kelly Hunter Allan MacKenzie McKenzie "
    "Grant O'Neil O'Brien Smith-Jones Docherty Gallacher McIntyre Menzies Urquhart Sutherland"
).split()
AREAS = "AB DD DG EH FK G HS IV KA KW KY ML PA PH TD ZE".split()
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
INWARD_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))


def _choice(rng: np.random.Generator, pool: list[str] | np.ndarray, n: int) -> np.ndarray:
    return np.asarray(pool, dtype=object)[rng.integers(0, len(pool), n)]


def build_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    people = max(rows * 2 // 5, 1)
    # ---- people
    letters = np.array(list("ABCEGHJKLMNPRSTWXYZ"))
    ni_prefix = np.char.add(letters[rng.integers(0, len(letters), people)], letters[rng.integers(0, len(letters), people)])
    ni_digits = np.char.zfill(rng.integers(0, 1_000_000, people).astype(str), 6)
    ni_suffix = np.array(list("ABCD"))[rng.integers(0, 4, people)]
    first = _choice(rng, FIRST, people)
    surname = _choice(rng, SURNAME, people)
    # widen the pools to realistic cardinalities (thousands of distinct spellings)
    syllables = ["", "s", "son", "ie", "er", "an", "ell", "ock", "ing", "ton", "wood", "more"]
    rare = np.char.add(np.char.add(_choice(rng, list(string.ascii_uppercase), people).astype(str),
                                   _choice(rng, ["a", "e", "i", "o", "u", "ai", "ou"], people).astype(str)),
                       _choice(rng, ["rr", "nd", "lk", "ck", "mb", "rt"], people).astype(str))
    surname = np.where(rng.random(people) < 0.7, surname, np.char.add(rare, _choice(rng, syllables, people).astype(str)))
    first = np.where(rng.random(people) < 0.9, first, np.char.add(rare, _choice(rng, ["a", "ie", "o", "y"], people).astype(str)))
    born = (np.datetime64("1958-01-01") + rng.integers(0, 365 * 48, people).astype("timedelta64[D]")).astype(object)
    area = _choice(rng, AREAS, people)
    district = rng.integers(1, 40, people).astype(str)
    inward = np.char.add(
        np.char.add(rng.integers(0, 10, people).astype(str), INWARD_LETTERS[rng.integers(0, 20, people)]),
        INWARD_LETTERS[rng.integers(0, 20, people)],
    )
    sex = np.where(rng.random(people) < 0.5, "M", "F")
    # ---- sightings
    who = rng.integers(0, people, rows)
    style = rng.integers(0, 8, rows)
    nino = np.char.add(np.char.add(ni_prefix[who], ni_digits[who]), np.where(style % 3 == 0, "", ni_suffix[who]))
    nino = nino.astype(object)
    spaced = style == 1
    nino[spaced] = [f"{v[:2]} {v[2:4]} {v[4:6]} {v[6:8]} {v[8:]}".strip() for v in nino[spaced]]
    nino[style == 2] = [v.lower() for v in nino[style == 2]]
    nino[rng.random(rows) < 0.15] = None
    nino[rng.random(rows) < 0.01] = "AA000000A"

    fn = first[who].copy()
    fn[style == 3] = [v.upper() for v in fn[style == 3]]
    fn[style == 4] = [f" {v.lower()} " for v in fn[style == 4]]
    sn = surname[who].copy()
    sn[style == 5] = [v.upper() for v in sn[style == 5]]

    dob = np.empty(rows, dtype=object)
    d = born[who]
    fmt = rng.integers(0, 6, rows)
    dob[fmt == 0] = [x.isoformat() for x in d[fmt == 0]]
    dob[fmt == 1] = [x.strftime("%d/%m/%Y") for x in d[fmt == 1]]
    dob[fmt == 2] = [f"{x.day:02d}-{MONTHS[x.month - 1]}-{x.year}" for x in d[fmt == 2]]
    dob[fmt == 3] = [x.strftime("%Y%m%d") for x in d[fmt == 3]]
    dob[fmt == 4] = [str((x - dt.date(1899, 12, 30)).days) for x in d[fmt == 4]]
    dob[fmt == 5] = [x.isoformat() + " 00:00:00" for x in d[fmt == 5]]
    dob[rng.random(rows) < 0.01] = "01/01/1900"

    pc = np.char.add(np.char.add(np.char.add(area[who], district[who]), " "), inward[who]).astype(object)
    pc[style == 6] = [v.replace(" ", "").lower() for v in pc[style == 6]]
    pc[style == 7] = [v.replace("0", "O") for v in pc[style == 7]]
    sx = sex[who].astype(object)
    sx[style == 4] = np.where(sx[style == 4] == "M", "Male", "Female")
    return pd.DataFrame(
        {
            "source": _choice(rng, ["sds", "dwp", "glasgow_council", "fife_council", "citizens_advice"], rows),
            "record_id": np.arange(rows).astype(str).astype(object),
            "line": np.arange(2, rows + 2),
            "nino": nino,
            "first_name": fn,
            "surname": sn,
            "dob": dob,
            "postcode": pc,
            "sex": sx,
        }
    )


FIELDS = {
    "nino": FieldSpec(kind="nino"),
    "first_name": FieldSpec(kind="name"),
    "surname": FieldSpec(kind="name"),
    "dob": FieldSpec(kind="dob", placeholders=["1900-01-01", "1901-01-01"]),
    "sex": FieldSpec(kind="sex"),
    "postcode": FieldSpec(kind="postcode"),
}


def scalar_baseline(df: pd.DataFrame, today: dt.date) -> dict[str, pd.Series]:
    """The naive way: every scalar normaliser mapped over every row (no dedupe of repeated values)."""
    out: dict[str, pd.Series] = {}
    out["nino"] = df["nino"].map(N.nino)
    out["nino_suffix"] = df["nino"].map(N.nino_suffix)
    for f, given in (("first_name", True), ("surname", False)):
        out[f] = df[f].map(N.name)
        out[f + "_canon"] = df[f].map(lambda v, g=given: N.name_canon(v, g))
        out[f + "_sound"] = df[f].map(lambda v, g=given: N.name_sound(v, g))
        out[f + "_initial"] = out[f].map(lambda v: v[0] if v else None)
    placeholders = FIELDS["dob"].placeholders
    born = df["dob"].map(lambda v: N.dob(v, placeholders=placeholders, today=today))
    out["dob"] = born.map(lambda d: d.isoformat() if d else None)
    out["dob_year"] = born.map(lambda d: d.year if d else None)
    out["dob_month"] = born.map(lambda d: d.month if d else None)
    out["dob_day"] = born.map(lambda d: d.day if d else None)
    out["sex"] = df["sex"].map(N.sex)
    out["postcode"] = df["postcode"].map(N.postcode)
    parts = out["postcode"].map(lambda p: N.postcode_parts(p) if p else (None, None, None))
    for i, part in enumerate(("area", "district", "sector")):
        out["postcode_" + part] = parts.map(lambda t, i=i: t[i])
    return out


def agreement(base: dict[str, pd.Series], records: pd.DataFrame) -> float:
    """Share of (row, column) cells where the scalar baseline and normalise_records agree."""
    same = total = 0
    for col, values in base.items():
        ours = np.where(records[col].notna(), records[col].astype(object), None)
        theirs = np.where(values.notna(), values.astype(object), None)
        same += int((ours == theirs).sum())
        total += len(values)
    return same / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline-rows", type=int, default=100_000, help="sample for the per-row baseline")
    args = parser.parse_args()
    today = dt.date(2025, 1, 1)
    t0 = time.perf_counter()
    df = build_frame(args.rows, args.seed)
    t1 = time.perf_counter()
    uniques = {c: df[c].nunique() for c in FIELDS}
    t2 = time.perf_counter()
    records, reasons = normalise_records(df, FIELDS, today=today)
    t3 = time.perf_counter()
    sample = df.iloc[: min(args.baseline_rows, len(df))]
    t4 = time.perf_counter()
    base = scalar_baseline(sample, today)
    t5 = time.perf_counter()
    print(f"built {len(df):,} rows in {t1 - t0:.1f} s; unique raw values: {uniques}")
    ours_rate, base_rate = len(df) / (t3 - t2), len(sample) / (t5 - t4)
    print(f"normalise_records: {t3 - t2:.2f} s -> {ours_rate:,.0f} rows/s")
    print(f"baseline (scalar normalisers per row, Series.map): {len(sample):,} rows in {t5 - t4:.2f} s "
          f"-> {base_rate:,.0f} rows/s (extrapolated {len(df) / base_rate:,.1f} s for {len(df):,} rows)")
    print(f"ratio ours/baseline rows/s: {ours_rate / base_rate:.1f}x; "
          f"agreement on the sample: {agreement(base, records.loc[sample.index]):.4f}")
    print(f"valid share: { {c: round(float(records[c].notna().mean()), 3) for c in FIELDS} }")
    print(f"reason counts: {reasons.groupby('reason')['count'].sum().to_dict()}")


if __name__ == "__main__":
    main()
