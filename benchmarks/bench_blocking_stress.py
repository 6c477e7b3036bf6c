"""Blocking stress test: pairs completeness per error type, and the candidate pairs it costs.

Usage: python -m benchmarks blocking-stress [--quick]
       python benchmarks/bench_blocking_stress.py [--people 20000] [--stress-people 20000] [--seed 42]

Two rule sets are measured in the same run: the default rules of ``config/pace.yaml`` ("now") and the default
rules as they were before key transforms ("before", :data:`BEFORE`: whole-column keys only).

1. Default synthetic data (``synthetic.generate`` with ``--people``, default profile, then the noisy profile):
   candidate pairs and pairs completeness of each rule set, and the ratio of pairs now / before.
2. One error type at a time (:mod:`synthetic.stress`): every person twice, the second record carrying the
   error (wherever it can apply), all other fields as they are. Pairs completeness over the pairs that carry
   the error. Bar: >= 0.99 for every error type with the default rules.
   Then the same with one identifying field also blank in the second record (no bar: where the rules stop).
3. Another error model (:func:`synthetic.stress.mixed_records`): every error type independently at 20% per
   record (often several at once) and each identifying field blank at 10%; completeness overall and by the
   number of errors and blanks a pair carries. No bar: it shows where the rules stop.

The stress records go through the real normaliser (``normalise_records`` with the config's fields) and the real
blocking (``block`` with the config's link type). Exit status 1 if a bar fails (completeness below 0.99 on an
error type, or more than 2x the pairs on the default synthetic data).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pace_linkage.config import load_config  # noqa: E402
from pace_linkage.engine.blocking import block  # noqa: E402
from pace_linkage.engine.settings import BlockingRule  # noqa: E402
from pace_linkage.normalise.records import normalise_records  # noqa: E402

BEFORE = [
    BlockingRule(name="nino", on=["nino"]),
    BlockingRule(name="dob_surname_sound", on=["dob", "surname_sound"]),
    BlockingRule(name="dob_first_name_sound", on=["dob", "first_name_sound"]),
    BlockingRule(name="postcode_first_initial", on=["postcode", "first_name_initial"]),
    BlockingRule(name="names_area", on=["surname_canon", "first_name_canon", "postcode_area"]),
    BlockingRule(name="names_birth_year", on=["surname_canon", "first_name_canon", "dob_year"]),
]
BAR_COMPLETENESS = 0.99
BAR_PAIR_RATIO = 2.0


def pair_codes(pairs: pd.DataFrame, n: int) -> np.ndarray:
    return np.sort(pairs["l"].to_numpy(np.int64) * n + pairs["r"].to_numpy(np.int64))


def found(candidates: np.ndarray, left: np.ndarray, right: np.ndarray, n: int) -> np.ndarray:
    """Whether each pair (left < right) is among the sorted candidate pair codes."""
    want = left.astype(np.int64) * n + right.astype(np.int64)
    at = np.minimum(np.searchsorted(candidates, want), max(len(candidates) - 1, 0))
    return candidates[at] == want if len(candidates) else np.zeros(len(want), bool)


def truth_pairs(person: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((np.arange(len(person)), person))
    p = person[order]
    starts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]])
    sizes = np.diff(np.r_[starts, len(p)])
    lefts, rights = [], []
    for d in range(1, int(sizes.max()) if len(sizes) else 1):  # loop over offsets inside a group, not records
        same = np.flatnonzero(p[d:] == p[:-d]) if len(p) > d else np.empty(0, np.int64)
        lefts.append(order[same])
        rights.append(order[same + d])
    if not lefts:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    a, b = np.concatenate(lefts), np.concatenate(rights)
    return np.minimum(a, b), np.maximum(a, b)


def default_data(people: int, seed: int, profile: str, cfg, work: Path) -> dict:
    """Pairs and completeness of both rule sets on the default synthetic data."""
    import synthetic
    from pace_linkage.pipeline import read_sources

    out = work / f"synth-{profile}"
    synthetic.generate(people=people, seed=seed, out_dir=out, profile=profile)
    rec = read_sources(cfg, out / "extracts")
    truth = pd.read_csv(out / "truth.csv", dtype=str)
    key_t = truth["source"] + "\x1f" + truth["record_id"]
    key_r = rec["source"].astype(str) + "\x1f" + rec["record_id"].astype(str)
    pos = pd.Index(key_t).get_indexer(key_r)
    person = np.where(pos >= 0, pd.factorize(truth["person_id"])[0][np.maximum(pos, 0)], -1 - np.arange(len(rec)))
    tl, tr = truth_pairs(person)
    row = {"records": len(rec), "true_pairs": len(tl)}
    for label, rules in (("before", BEFORE), ("now", cfg.linkage.blocking)):
        res = block(rec, rules, cfg.linkage.link_type, cfg.linkage.max_pairs_per_rule)
        row[f"pairs_{label}"] = len(res.pairs)
        row[f"pc_{label}"] = float(found(pair_codes(res.pairs, len(rec)), tl, tr, len(rec)).mean())
    return row


def stress_block(frame: pd.DataFrame, cfg) -> dict[str, tuple[np.ndarray, int]]:
    """Normalise a stress frame and block it with both rule sets: {label: (whether person i's two records are
    a candidate pair, candidate pairs)}."""
    rec, _ = normalise_records(frame, cfg.fields, today=cfg.reference_date)
    n = len(rec) // 2
    out = {}
    for label, rules in (("before", BEFORE), ("now", cfg.linkage.blocking)):
        res = block(rec, rules, cfg.linkage.link_type, cfg.linkage.max_pairs_per_rule)
        idx = np.arange(n)
        out[label] = (found(pair_codes(res.pairs, len(rec)), idx, idx + n, len(rec)), len(res.pairs))
    return out


def print_default(rows: dict[str, dict]) -> bool:
    print("\n== default synthetic data: candidate pairs and pairs completeness (all true pairs)")
    print(f"{'profile':<9} {'records':>8} {'true pairs':>10} {'pairs before':>12} {'pairs now':>10} {'ratio':>6} "
          f"{'PC before':>9} {'PC now':>7}")
    ok = True
    for profile, r in rows.items():
        ratio = r["pairs_now"] / max(r["pairs_before"], 1)
        ok &= profile != "default" or ratio <= BAR_PAIR_RATIO
        print(f"{profile:<9} {r['records']:>8} {r['true_pairs']:>10} {r['pairs_before']:>12} {r['pairs_now']:>10} "
              f"{ratio:>6.2f} {r['pc_before']:>9.4f} {r['pc_now']:>7.4f}")
    return ok


def run_single(people: pd.DataFrame, cfg, seed: int, latest: np.datetime64, blank: bool = False) -> bool:
    from synthetic import stress

    if blank:
        print("\n== one error type at a time, the second record also lacking one identifying field (NI number, "
              "first name, surname, birth date or postcode, at random)")
    else:
        print("\n== one error type at a time: pairs completeness over the pairs carrying the error")
    print(f"{'error type':<18} {'pairs':>6} {'PC before':>9} {'PC now':>7} {'cand. before':>12} {'cand. now':>10}"
          "  bar")
    ok = True
    for error in stress.ERROR_TYPES:
        frame, changed = stress.stress_records(people, error, seed, latest, blank=blank)
        res = stress_block(frame, cfg)
        pc = {k: float(v[0][changed].mean()) if changed.any() else float("nan") for k, v in res.items()}
        passed = pc["now"] >= BAR_COMPLETENESS
        ok &= passed
        verdict = "" if blank else "ok" if passed else f"BELOW {BAR_COMPLETENESS}"
        print(f"{error:<18} {int(changed.sum()):>6} {pc['before']:>9.4f} {pc['now']:>7.4f} {res['before'][1]:>12} "
              f"{res['now'][1]:>10}  {verdict}")
    return ok


def run_mixed(people: pd.DataFrame, cfg, seed: int, latest: np.datetime64) -> None:
    from synthetic import stress

    frame, count = stress.mixed_records(people, seed, latest)
    res = stress_block(frame, cfg)
    print("\n== another error model: every error type at 20% per record and each field blank at 10%, at once")
    print(f"{'errors+blanks':<14} {'pairs':>6} {'PC before':>9} {'PC now':>7}")
    groups = [(str(k), count == k) for k in range(4)] + [("4+", count >= 4), ("all", count >= 0)]
    for label, sel in groups:
        if sel.any():
            print(f"{label:<14} {int(sel.sum()):>6} {res['before'][0][sel].mean():>9.4f} "
                  f"{res['now'][0][sel].mean():>7.4f}")
    print(f"candidate pairs: before {res['before'][1]}, now {res['now'][1]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=20_000, help="people in the default synthetic data")
    ap.add_argument("--stress-people", type=int, default=20_000, help="people in each stress data set")
    ap.add_argument("--seed", type=int, default=42)
    args = ap.parse_args()
    t0 = time.perf_counter()
    cfg = load_config(None)
    generate = importlib.import_module("synthetic.generate")
    from synthetic import stress

    _, _, settings = generate.setup(args.stress_people, None, "default")
    population, _ = generate.population_and_employers(args.stress_people, args.seed, settings)
    people = stress.people_frame(population)
    latest = np.datetime64(settings.reference_date, "D")
    print(f"rules now: {', '.join(r.name for r in cfg.linkage.blocking)}")
    print(f"rules before: {', '.join(r.name for r in BEFORE)}")
    ok = run_single(people, cfg, args.seed, latest)
    run_single(people, cfg, args.seed, latest, blank=True)  # no bar: a harder case, shown
    run_mixed(people, cfg, args.seed, latest)
    with tempfile.TemporaryDirectory(prefix="blocking-stress-") as tmp:
        rows = {p: default_data(args.people, args.seed, p, cfg, Path(tmp)) for p in ("default", "noisy")}
    ok &= print_default(rows)
    print(f"\nbars (completeness >= {BAR_COMPLETENESS} per error type, pairs <= {BAR_PAIR_RATIO}x before on the "
          f"default data): {'met' if ok else 'NOT met'}  ({time.perf_counter() - t0:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
