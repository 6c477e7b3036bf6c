"""Benchmark the synthetic generator: ~1,000,000 partner records (sum over partners).

Usage: python benchmarks/bench_synth.py [--records 1000000] [--seed 42] [--profile default] [--out DIR]
                                        [--baseline-records 20000]

A small pilot run (not timed) measures records per person for the current config, then the main run
generates enough people for the target. Prints records, seconds, records/s and peak RSS (the
process's maximum resident set size, pilot included). Bars: < 120 s on 2 cores, < 4 GB.

Same-run baseline: the naive way to fake partner records -- Faker (en_GB, seeded) called once per field
per row (record id, NI number, title, first name, surname, date of birth, sex, postcode, address line,
phone, e-mail, employer, referral date: 13 fields, about what a partner file carries) and the rows
written with ``csv.writer`` -- for ``--baseline-records`` rows; its records/s and the ratio are printed.
The baseline has none of the generator's people model, duplicates, errors or partner styles, so the
ratio understates what the generator does per record.
"""

from __future__ import annotations

import argparse
import csv
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import synthetic  # noqa: E402


def naive_faker(rows: int, seed: int, path: Path) -> float:
    """Faker once per field per row, rows written with csv.writer; returns the seconds taken."""
    from faker import Faker

    fake = Faker("en_GB")
    Faker.seed(seed)
    t0 = time.perf_counter()
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "nino", "title", "first_name", "surname", "dob", "sex", "postcode", "address_line",
                    "phone", "email", "employer", "referral_date"])
        for i in range(rows):
            sex = fake.random_element(("M", "F"))
            w.writerow([
                f"{i + 1:07d}", fake.ssn(), fake.prefix_male() if sex == "M" else fake.prefix_female(),
                fake.first_name_male() if sex == "M" else fake.first_name_female(), fake.last_name(),
                fake.date_of_birth(minimum_age=16, maximum_age=70).isoformat(), sex, fake.postcode(),
                fake.street_address(), fake.phone_number(), fake.email(), fake.company(),
                fake.date_between(start_date="-3y", end_date="today").isoformat(),
            ])
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--profile", default="default")
    ap.add_argument("--out", type=Path, default=None, help="output directory (default: a temporary one)")
    ap.add_argument("--baseline-records", type=int, default=20_000, help="rows for the naive Faker baseline")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        pilot = synthetic.generate(5000, args.seed, Path(tmp) / "pilot", profile=args.profile)
        per_person = pilot["total_records"] / pilot["people"]
        people = max(1, round(args.records / per_person))
        out = args.out or Path(tmp) / "run"
        t0 = time.perf_counter()
        summary = synthetic.generate(people, args.seed, out, profile=args.profile)
        seconds = time.perf_counter() - t0
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before the baseline runs
        base_seconds = naive_faker(args.baseline_records, args.seed, Path(tmp) / "naive.csv")
    total = summary["total_records"]
    print(f"people            {people:,}")
    print(f"records           {total:,}  (employer records {sum(summary['employer_records'].values()):,})")
    for name, n in summary["records"].items():
        print(f"  {name:<18}{n:>10,}")
    print(f"seconds           {seconds:.1f}")
    print(f"records/s         {total / seconds:,.0f}")
    print(f"peak RSS          {peak_mb:,.0f} MB")
    print(f"output size       {size / 1e6:,.0f} MB")
    base_rate = args.baseline_records / base_seconds
    print(f"baseline          naive Faker per field per row: {args.baseline_records:,} records in "
          f"{base_seconds:.1f} s -> {base_rate:,.0f} records/s (1M would take ~{1e6 / base_rate:,.0f} s)")
    print(f"ratio             generator/baseline records/s: {total / seconds / base_rate:.1f}x")
    ok = seconds < 120 and peak_mb < 4096
    print("bar (<120 s, <4 GB):", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
