"""An independent PACE-like data set: a second generator that shares no code, pools or error model with
``synthetic/``, to check that the default linkage settings hold on data they were not written against.

Usage::

    python -m benchmarks independent --people 10000 --out /tmp/indep      # writes extracts/, truth.csv, config/
    python -m flows run --config /tmp/indep/config/pace.yaml --extracts /tmp/indep/extracts \\
        --truth /tmp/indep/truth.csv --out /tmp/indep/out

What differs from ``synthetic/``:

* names come from Faker's US, Irish and Australian locales (not the Scottish frequency tables), with a small
  table of everyday forms (William -> Bill) written here;
* eight partners with their own column names, CSV and JSON lines, dates in ``dd/mm/yyyy``, ``d Mon yyyy``,
  ``yyyy-mm-dd``, ``dd-mm-yy``, ``dd.mm.yyyy``, ``yyyy/mm/dd`` and one US ``mm/dd/yyyy`` layout;
* an error model of its own, each error independent per record at the rates in :data:`ERRORS`: typos in one
  or both names, everyday forms, first and last name swapped, a married or double-barrelled surname, day and
  month swapped, a birth date one day / one year / one digit out, a moved or mistyped postcode, a missing or
  mistyped NI number, missing values.

The config is ``config/pace.yaml`` with its linkage settings unchanged; only ``sources`` and the date formats
differ (one partner file each under ``config/partners/``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]

NICKNAMES = {
    "William": "Bill", "Robert": "Bob", "Richard": "Dick", "James": "Jim", "Thomas": "Tom", "Michael": "Mike",
    "Christopher": "Chris", "Daniel": "Dan", "Matthew": "Matt", "Anthony": "Tony", "Joseph": "Joe",
    "Jonathan": "Jon", "Nicholas": "Nick", "Andrew": "Andy", "Edward": "Ted", "Benjamin": "Ben",
    "Samuel": "Sam", "Alexander": "Alex", "Patrick": "Paddy", "Stephen": "Steve", "Timothy": "Tim",
    "Elizabeth": "Liz", "Margaret": "Maggie", "Katherine": "Kate", "Catherine": "Cathy", "Jennifer": "Jen",
    "Rebecca": "Becky", "Victoria": "Vicky", "Susan": "Sue", "Patricia": "Trish", "Deborah": "Debbie",
    "Christine": "Chris", "Samantha": "Sam", "Jessica": "Jess", "Alexandra": "Alex", "Kimberly": "Kim",
    "Jacqueline": "Jackie", "Pamela": "Pam", "Abigail": "Abby", "Nicola": "Nicky",
}

# error -> probability per record (independent draws)
ERRORS = {
    "first_typo": 0.06, "surname_typo": 0.06, "both_typo": 0.02, "nickname": 0.08, "swap_names": 0.03,
    "married": 0.04, "double_barrel": 0.015, "dob_swap_dm": 0.03, "dob_day": 0.02, "dob_year": 0.02,
    "dob_digit": 0.02, "dob_missing": 0.04, "moved": 0.15, "postcode_typo": 0.03, "postcode_missing": 0.05,
    "nino_typo": 0.02, "first_missing": 0.01,
}

# name, file, format, record id column, columns (field -> column), dob layout, NI number kept, repeat rate
PARTNERS = [
    ("jobcentre", "jcp_claims.csv", "csv", "ClaimRef", {"nino": "NINo", "first_name": "Forename",
     "surname": "Family Name", "dob": "Birth Date", "postcode": "Post Code", "sex": "Gender"}, "%d/%m/%Y", 0.95, 0.10),
    ("college", "college_learners.jsonl", "jsonl", "learner_ref", {"first_name": "given_names",
     "surname": "last_name", "dob": "birth_date", "postcode": "home_postcode", "email": "email_address"},
     "%Y-%m-%d", 0.0, 0.05),
    ("council", "council_clients.csv", "csv", "Client Ref", {"first_name": "First Name", "surname": "Last Name",
     "dob": "D.O.B.", "postcode": "Address Postcode", "phone": "Tel"}, "%d %b %Y", 0.3, 0.08),
    ("advice", "advice_cases.csv", "csv", "CaseNo", {"first_name": "FIRSTNAME", "surname": "LASTNAME",
     "dob": "DATEOFBIRTH", "postcode": "POSTCODE", "sex": "SEX"}, "%m/%d/%Y", 0.0, 0.12),
    ("skills", "skills_candidates.csv", "csv", "candidate", {"nino": "ni_number", "first_name": "fname",
     "surname": "sname", "dob": "dob", "postcode": "pcode"}, "%d-%m-%y", 0.6, 0.05),
    ("pensions", "pension_guidance.jsonl", "jsonl", "appointment_id", {"first_name": "firstName",
     "surname": "lastName", "dob": "dateOfBirth", "postcode": "postCode", "email": "email"}, "%d.%m.%Y", 0.5, 0.03),
    ("money", "money_advice.csv", "csv", "Ref", {"first_name": "Client forename", "surname": "Client surname",
     "dob": "Client DOB", "postcode": "Client postcode"}, "%Y/%m/%d", 0.0, 0.06),
    ("business", "business_support.csv", "csv", "Enquiry", {"first_name": "Contact first name",
     "surname": "Contact surname", "dob": "Contact DOB", "postcode": "Contact postcode", "email": "Contact email"},
     "%d/%m/%Y", 0.0, 0.02),
]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
LETTERS = "ABDEFGHJLNPQRSTUWXYZ"  # letters a postcode's inward code uses
KEYBOARD = {c: n for c, n in zip("abcdefghijklmnopqrstuvwxyz", "qvxsrdfgujklnbiowetyhcqzut", strict=True)}


def _pools(rng: np.random.Generator, seed: int) -> dict[str, list[str]]:
    from faker import Faker

    out: dict[str, set[str]] = {"male": set(), "female": set(), "surname": set()}
    for loc in ("en_US", "en_IE", "en_AU"):
        fake = Faker(loc)
        fake.seed_instance(seed)
        for _ in range(600):
            out["male"].add(fake.first_name_male())
            out["female"].add(fake.first_name_female())
            out["surname"].add(fake.last_name())
    pools = {k: sorted(v) for k, v in out.items()}
    pools["male"] += [n for n in NICKNAMES if n not in pools["male"]][:20]
    pools["female"] += [n for n in NICKNAMES if n not in pools["female"]][20:]
    return pools


def _postcodes(rng: np.random.Generator, n: int) -> list[str]:
    areas = ["G", "EH", "AB", "DD", "KY", "PA", "FK", "ML", "IV", "KA"]
    out = []
    for _ in range(n):
        a = areas[rng.integers(len(areas))]
        out.append(f"{a}{rng.integers(1, 60)} {rng.integers(1, 10)}{LETTERS[rng.integers(len(LETTERS))]}"
                   f"{LETTERS[rng.integers(len(LETTERS))]}")
    return out


def _nino(rng: np.random.Generator) -> str:
    first, second = "ABCEGHJKLMNPRSTWXYZ", "ABCEGHJKLMNPRSTWXYZ"
    return (first[rng.integers(len(first))] + second[rng.integers(len(second))]
            + "".join(str(d) for d in rng.integers(0, 10, 6)) + "ABCD"[rng.integers(4)])


def people(n: int, seed: int) -> pd.DataFrame:
    """The population: one row per person, clean values."""
    rng = np.random.default_rng(seed)
    pools = _pools(rng, seed)
    sex = rng.choice(["M", "F"], n)
    first = [pools["male" if s == "M" else "female"][rng.integers(len(pools["male" if s == "M" else "female"]))]
             for s in sex]
    zipf = rng.zipf(1.3, n) % len(pools["surname"])  # common surnames recur, as they do
    surname = [pools["surname"][i] for i in zipf]
    start = dt.date(1950, 1, 1).toordinal()
    dob = [dt.date.fromordinal(start + int(d)) for d in rng.integers(0, 365 * 55, n)]
    postcode = _postcodes(rng, n)
    return pd.DataFrame({"person_id": [f"p{i:07d}" for i in range(n)], "first_name": first, "surname": surname,
                         "sex": sex, "dob": dob, "postcode": postcode,
                         "nino": [_nino(rng) for _ in range(n)],
                         "email": [f"{f.lower()}.{s.lower().replace(' ', '')}{rng.integers(1, 99)}@mail.example.co.uk"
                                   for f, s in zip(first, surname, strict=True)],
                         "phone": [f"07{rng.integers(100000000, 999999999)}" for _ in range(n)]})


def _typo(rng: np.random.Generator, s: str) -> str:
    if len(s) < 3:
        return s
    i = int(rng.integers(1, len(s)))
    op = rng.integers(4)
    c = s[i].lower()
    if op == 0:
        return s[:i] + s[i + 1:]
    if op == 1 and i < len(s) - 1:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if op == 2:
        return s[:i] + KEYBOARD.get(c, c) + s[i + 1:]
    return s[:i] + s[i] + s[i:]


def corrupt(rng: np.random.Generator, p: dict, surnames: list[str]) -> dict:
    """One partner's record of a person, with this generator's errors drawn independently."""
    r = dict(p)
    hit = {e: rng.random() < rate for e, rate in ERRORS.items()}
    if hit["nickname"] and r["first_name"] in NICKNAMES:
        r["first_name"] = NICKNAMES[r["first_name"]]
    if hit["first_typo"] or hit["both_typo"]:
        r["first_name"] = _typo(rng, r["first_name"])
    if hit["surname_typo"] or hit["both_typo"]:
        r["surname"] = _typo(rng, r["surname"])
    if hit["married"] and r["sex"] == "F":
        r["surname"] = surnames[rng.integers(len(surnames))]
    if hit["double_barrel"]:
        r["surname"] = f"{r['surname']}-{surnames[rng.integers(len(surnames))]}"
    if hit["swap_names"]:
        r["first_name"], r["surname"] = r["surname"], r["first_name"]
    d = r["dob"]
    if hit["dob_swap_dm"] and d.day <= 12 and d.day != d.month:
        d = d.replace(month=d.day, day=d.month)
    if hit["dob_day"]:
        d = d + dt.timedelta(days=int(rng.choice([-1, 1])))
    if hit["dob_year"]:
        d = d.replace(year=d.year + int(rng.choice([-1, 1])), day=min(d.day, 28))
    if hit["dob_digit"]:
        y = d.year - d.year % 10 + int(rng.integers(10))
        d = d.replace(year=min(y, 2004), day=min(d.day, 28))
    r["dob"] = None if hit["dob_missing"] else d
    if hit["moved"]:
        r["postcode"] = _postcodes(rng, 1)[0]
    elif hit["postcode_typo"]:
        pc = r["postcode"]
        r["postcode"] = pc[:-1] + LETTERS[rng.integers(len(LETTERS))]
    if hit["postcode_missing"]:
        r["postcode"] = None
    if hit["nino_typo"]:
        n = r["nino"]
        i = int(rng.integers(2, 8))
        r["nino"] = n[:i] + str(rng.integers(10)) + n[i + 1:]
    if hit["first_missing"]:
        r["first_name"] = None
    return r


def _fmt(d: dt.date | None, layout: str, rng: np.random.Generator) -> str | None:
    if d is None:
        return None
    return d.strftime(layout)


def write(out: Path, n_people: int = 10_000, seed: int = 2026) -> dict:
    """Write ``out/extracts/``, ``out/truth.csv`` and ``out/config/`` (pace.yaml + partners/)."""
    rng = np.random.default_rng(seed + 1)
    pop = people(n_people, seed)
    surnames = sorted(set(pop["surname"]))
    out = Path(out)
    (out / "extracts").mkdir(parents=True, exist_ok=True)
    (out / "config" / "partners").mkdir(parents=True, exist_ok=True)
    truth, counts = [], {}
    # each person is a client of 1-4 partners (most of one), sometimes twice of one
    k = np.minimum(rng.geometric(0.55, n_people), 4)
    rows_by_partner: dict[str, list[dict]] = {name: [] for name, *_ in PARTNERS}
    for i, p in enumerate(pop.to_dict("records")):
        chosen = rng.choice(len(PARTNERS), int(k[i]), replace=False)
        for j in chosen:
            name, _, _, _, _, _, nino_rate, repeat = PARTNERS[j]
            for _ in range(1 + int(rng.random() < repeat)):
                r = corrupt(rng, p, surnames)
                if rng.random() >= nino_rate:
                    r["nino"] = None
                rows_by_partner[name].append(r)
    for name, file, fmt, rid, cols, layout, _, _ in PARTNERS:
        rows = rows_by_partner[name]
        order = rng.permutation(len(rows))
        recs = []
        for m, idx in enumerate(order):
            r = rows[idx]
            rec = {rid: f"{name[:3].upper()}{m:07d}"}
            for field, col in cols.items():
                v = r.get(field)
                rec[col] = _fmt(v, layout, rng) if field == "dob" else v
            recs.append(rec)
            truth.append((name, rec[rid], r["person_id"]))
        df = pd.DataFrame(recs, columns=[rid, *cols.values()])
        if fmt == "csv":
            df.to_csv(out / "extracts" / file, index=False, lineterminator="\n")
        else:
            with open(out / "extracts" / file, "w", encoding="utf-8") as fh:
                for rec in df.to_dict("records"):
                    fh.write(json.dumps({k: v for k, v in rec.items() if v is not None and v == v}) + "\n")
        (out / "config" / "partners" / f"{name}.yaml").write_text(
            "\n".join([f"name: {name}", f"file: {file}", f"format: {fmt}", f"record_id: {json.dumps(rid)}",
                       "columns:", *[f"  {f}: {json.dumps(c)}" for f, c in cols.items()],
                       "formats:", f"  dob: {json.dumps(layout)}", ""]), encoding="utf-8")
        counts[name] = len(recs)
    pd.DataFrame(truth, columns=["source", "record_id", "person_id"]).to_csv(
        out / "truth.csv", index=False, lineterminator="\n")
    base = (ROOT / "config" / "pace.yaml").read_text(encoding="utf-8")
    base = re.sub(r"reference_date: .*", "reference_date: 2026-06-30", base)
    (out / "config" / "pace.yaml").write_text(base, encoding="utf-8")
    return {"people": n_people, "records": len(truth), "partners": counts}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m benchmarks independent", description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    print(json.dumps(write(args.out, args.people, args.seed)))


if __name__ == "__main__":
    main()
