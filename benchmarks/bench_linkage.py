"""Benchmark: pace-linkage block -> compare -> EM -> score -> cluster vs the recordlinkage toolkit (ECM).

Usage::

    python benchmarks/bench_linkage.py                 # 100,000 records, both pipelines
    python benchmarks/bench_linkage.py --records 1000000 --skip-toolkit
    python benchmarks/bench_linkage.py --records 20000 --seed 7

The data: a seeded numpy generator of already-normalised PACE-like records (first name, surname, dob,
sex, postcode, NINO in two of five sources) for people with 1-5 records each, with typos, swapped
names, day/month swaps, house moves and missing values. Each pipeline runs in its own subprocess so its
wall time and peak RSS are its own. Printed: wall time, candidate pairs, pairwise precision/recall/F1
(records sharing a cluster vs sharing a person; for the toolkit, which has no clustering, its predicted
links), peak RSS, and the ratios. No raw values are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SOURCES = ["sds", "dwp", "council", "college", "cab"]
NINO_SOURCES = {"sds", "dwp"}
LETTERS = np.array(list("ABCEGHJKLMNPRSTWXYZ"))


# --------------------------------------------------------------------------------------------------
# Synthetic normalised records
# --------------------------------------------------------------------------------------------------
def _name_pools():
    from faker.providers.person.en_GB import Provider as GB
    from faker.providers.person.en_US import Provider as US

    def weighted(*pools):
        names: dict[str, float] = {}
        for pool in pools:
            items = pool.items() if hasattr(pool, "items") else ((n, 1.0 / len(pool)) for n in pool)
            for n, w in items:
                names[n.upper()] = names.get(n.upper(), 0.0) + float(w)
        keys = sorted(names)
        p = np.array([names[k] for k in keys])
        return np.array(keys, dtype=object), p / p.sum()

    male = weighted(US.first_names_male, GB.first_names_male)
    female = weighted(US.first_names_female, GB.first_names_female)
    last = weighted(US.last_names, GB.last_names)
    return male, female, last


def _typo(values: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random edit (substitute, delete, insert, transpose) per value."""
    r = random.Random(int(rng.integers(2**31)))
    alpha = "ABCDEFGHIJKLMNOPRSTUVWY"
    out = []
    for v in values:
        s = str(v)
        if len(s) < 3:
            out.append(s)
            continue
        i = r.randrange(1, len(s) - 1)
        op = r.randrange(4)
        if op == 0:
            s = s[:i] + r.choice(alpha) + s[i + 1:]
        elif op == 1:
            s = s[:i] + s[i + 1:]
        elif op == 2:
            s = s[:i] + r.choice(alpha) + s[i:]
        else:
            s = s[: i - 1] + s[i] + s[i - 1] + s[i + 1:]
        out.append(s)
    return np.array(out, dtype=object)


def make_records(n_records: int, seed: int = 42) -> tuple[pd.DataFrame, np.ndarray]:
    """(records, person id per record): normalised, sorted by (source, record_id), RangeIndex."""
    import jellyfish

    rng = np.random.default_rng(seed)
    (male, pm), (female, pf), (last, pl) = _name_pools()
    n_people = int(n_records / 1.7) + 1
    sex = rng.choice(np.array(["M", "F"], dtype=object), size=n_people)
    first = np.where(sex == "M", rng.choice(male, n_people, p=pm), rng.choice(female, n_people, p=pf))
    sur = rng.choice(last, n_people, p=pl)
    dob = pd.Timestamp("1950-01-01") + pd.to_timedelta(rng.integers(0, 365 * 55, n_people), unit="D")
    n_pc = max(n_records // 40, 50)
    pc_pool = np.array([f"{a}{b}{d} {e}{f}{g}" for a, b, d, e, f, g in zip(
        rng.choice(LETTERS, n_pc), rng.choice(LETTERS, n_pc), rng.integers(1, 30, n_pc),
        rng.integers(0, 10, n_pc), rng.choice(LETTERS, n_pc), rng.choice(LETTERS, n_pc), strict=True)], dtype=object)
    pc = rng.choice(pc_pool, n_people)
    nino = np.array([f"{a}{b}{n:06d}" for a, b, n in zip(rng.choice(LETTERS, n_people), rng.choice(LETTERS, n_people),
                                                         rng.integers(0, 1_000_000, n_people), strict=True)], dtype=object)
    # records per person: 1 + Poisson, trimmed to n_records
    per = 1 + np.minimum(rng.poisson(0.75, n_people), 4)
    person = np.repeat(np.arange(n_people), per)[:n_records]
    rng.shuffle(person)
    n = len(person)
    src = rng.choice(np.array(SOURCES, dtype=object), n)
    rec = pd.DataFrame({
        "source": src, "person": person, "first_name": first[person], "surname": sur[person],
        "sex": sex[person], "dob": dob[person].strftime("%Y-%m-%d").to_numpy(dtype=object),
        "postcode": pc[person], "nino": nino[person],
    })
    # corruption (each a vectorised mask; string edits loop over the affected values only)
    def mask(p):
        return rng.random(n) < p
    for col, p in (("first_name", 0.08), ("surname", 0.06)):
        m = mask(p)
        rec.loc[m, col] = _typo(rec.loc[m, col].to_numpy(), rng)
    m = mask(0.01)
    rec.loc[m, ["first_name", "surname"]] = rec.loc[m, ["surname", "first_name"]].to_numpy()
    d = rec["dob"].str
    m = mask(0.02) & (d.slice(8, 10).astype(int) <= 12).to_numpy()
    rec.loc[m, "dob"] = (d.slice(0, 5) + d.slice(8, 10) + "-" + d.slice(5, 7))[m]
    m = mask(0.02)
    rec.loc[m, "dob"] = (rec["dob"].str.slice(0, 9) + pd.Series(rng.integers(0, 10, n).astype(str)))[m]
    moved = mask(0.10)
    rec.loc[moved, "postcode"] = rng.choice(pc_pool, int(moved.sum()))
    m = mask(0.01)
    rec.loc[m, "nino"] = _typo(rec.loc[m, "nino"].to_numpy(), rng)
    rec.loc[~rec["source"].isin(NINO_SOURCES).to_numpy() | mask(0.3), "nino"] = None
    for col, p in (("dob", 0.02), ("postcode", 0.03), ("sex", 0.05), ("first_name", 0.01)):
        rec.loc[mask(p), col] = None
    # invalid dates produced by the digit typo become null (the normaliser would reject them)
    bad = pd.to_datetime(rec["dob"], format="%Y-%m-%d", errors="coerce").isna() & rec["dob"].notna()
    rec.loc[bad, "dob"] = None
    # derived columns (what normalise produces)
    for f in ("first_name", "surname"):
        s = rec[f]
        rec[f + "_canon"] = s
        uniq = s.dropna().unique()
        rec[f + "_sound"] = s.map(dict(zip(uniq, [jellyfish.soundex(u) for u in uniq], strict=True)))
        rec[f + "_initial"] = s.str.slice(0, 1)
    dt = pd.to_datetime(rec["dob"], format="%Y-%m-%d", errors="coerce")
    rec["dob_year"] = dt.dt.year.astype("Int64")
    rec["dob_month"] = dt.dt.month.astype("Int64")
    rec["dob_day"] = dt.dt.day.astype("Int64")
    pcs = rec["postcode"].astype("string")
    rec["postcode_sector"] = pcs.str.slice(0, -2)
    rec["postcode_district"] = pcs.str.split(" ").str[0]
    rec["postcode_area"] = pcs.str.extract(r"^([A-Z]+)", expand=False)
    rec["record_id"] = pd.Series(np.arange(n)).map("{:08d}".format)
    rec = rec.sort_values(["source", "record_id"], kind="stable").reset_index(drop=True)
    truth = rec.pop("person").to_numpy()
    return rec, truth


# --------------------------------------------------------------------------------------------------
# Runners (each in its own process)
# --------------------------------------------------------------------------------------------------
def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(path: str, seed: int) -> dict:
    import yaml

    from pace_linkage.config import LinkageSettings
    from pace_linkage.linkage import link, pairwise_quality

    rec = pd.read_parquet(path)
    truth = rec.pop("person_id").to_numpy()
    # the linkage section of the default configuration (the rest needs partner extracts)
    raw = yaml.safe_load((ROOT / "config" / "pace.yaml").read_text(encoding="utf-8"))["linkage"]
    settings = LinkageSettings.model_validate(_fix_on(raw))
    rss0 = _peak_rss_mb()
    t0 = time.perf_counter()
    res = link(rec, settings, seed=seed)
    wall = time.perf_counter() - t0
    q = pairwise_quality(res.clusters.clusters["pace_id"], truth)
    s = res.scores
    is_true = truth[s["l"].to_numpy()] == truth[s["r"].to_numpy()]
    pred = s["match_probability"].to_numpy() >= settings.threshold
    tp = int((pred & is_true).sum())
    from pace_linkage.blocking import blocking_stats_with_truth, true_pair_count

    bstats = blocking_stats_with_truth(res.blocking.pairs, len(rec), truth)
    return {
        "wall_s": wall, "timings": res.timings, "pairs": int(len(res.blocking.pairs)),
        "pairs_completeness": float(bstats.iloc[-1]["pairs_completeness"]),
        "cluster_quality": q,
        "pair_precision": tp / max(int(pred.sum()), 1), "pair_recall": tp / max(true_pair_count(truth), 1),
        "peak_rss_mb": _peak_rss_mb(), "rss_before_link_mb": rss0,
        "stats": res.clusters.stats.get("pace_id"), "expected_matches": res.model.info.get("expected_matches"),
    }


def _fix_on(raw: dict) -> dict:
    """PyYAML 1.1 reads the key ``on`` as True; put it back (only needed with plain safe_load)."""
    for rule in raw.get("blocking", []):
        if True in rule:
            rule["on"] = rule.pop(True)
    return raw


def run_toolkit(path: str) -> dict:
    """The plain recordlinkage pipeline: Index().block on the same keys, Compare, ECMClassifier."""
    import recordlinkage

    rec = pd.read_parquet(path)
    truth = rec.pop("person_id").to_numpy()
    df = rec.copy()
    t0 = time.perf_counter()
    indexer = recordlinkage.Index()
    for on in (["nino"], ["dob", "surname_sound"], ["dob", "first_name_sound"], ["postcode", "first_name_initial"],
               ["surname_canon", "first_name_canon"]):
        indexer.block(on)
    pairs = indexer.index(df)
    cmp = recordlinkage.Compare(n_jobs=2)
    cmp.exact("nino", "nino", label="nino")
    cmp.string("first_name", "first_name", method="jarowinkler", threshold=0.85, label="first_name")
    cmp.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    cmp.exact("dob", "dob", label="dob")
    cmp.exact("postcode", "postcode", label="postcode")
    cmp.exact("sex", "sex", label="sex")
    features = cmp.compute(pairs, df)
    ecm = recordlinkage.ECMClassifier(binarize=None)
    links = ecm.fit_predict(features)
    wall = time.perf_counter() - t0
    li = links.get_level_values(0).to_numpy()
    ri = links.get_level_values(1).to_numpy()
    tp = int((truth[li] == truth[ri]).sum())
    from pace_linkage.blocking import true_pair_count

    n_true = true_pair_count(truth)
    p = tp / max(len(links), 1)
    r = tp / max(n_true, 1)
    return {"wall_s": wall, "pairs": int(len(pairs)), "links": int(len(links)), "precision": p, "recall": r,
            "f1": 2 * p * r / (p + r) if p + r else 0.0, "peak_rss_mb": _peak_rss_mb()}


def _sub(args: list[str]) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--skip-toolkit", action="store_true")
    ap.add_argument("--run", choices=["ours", "toolkit"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.run == "ours":
        print(json.dumps(run_ours(a.data, a.seed), default=float))
        return
    if a.run == "toolkit":
        print(json.dumps(run_toolkit(a.data), default=float))
        return
    t0 = time.perf_counter()
    rec, truth = make_records(a.records, a.seed)
    print(f"generated {len(rec):,} records of {len(np.unique(truth)):,} people in {time.perf_counter() - t0:.1f}s")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "records.parquet")
        rec.assign(person_id=truth).to_parquet(path)
        ours = _sub(["--run", "ours", "--data", path, "--seed", str(a.seed)])
        print("pace-linkage:", json.dumps(ours, indent=1, default=float))
        if not a.skip_toolkit:
            tk = _sub(["--run", "toolkit", "--data", path])
            print("recordlinkage ECM:", json.dumps(tk, indent=1, default=float))
            if "error" not in ours and "error" not in tk:
                q = ours["cluster_quality"]
                print(f"wall time ratio (toolkit / ours): {tk['wall_s'] / ours['wall_s']:.2f}")
                print(f"F1 ours {q['f1']:.4f} (P {q['precision']:.4f} R {q['recall']:.4f}) vs toolkit "
                      f"{tk['f1']:.4f} (P {tk['precision']:.4f} R {tk['recall']:.4f})")
                print(f"peak RSS ratio (toolkit / ours): {tk['peak_rss_mb'] / ours['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
