"""Splink's whole process for the end-to-end benchmark (``python -m benchmarks e2e``): run as its own process,
``python benchmarks/e2e_splink.py SPEC.json``, it does what a Splink user's script does with the partners' raw
extracts, as Splink's tutorials do it:

1. read each partner's file with pandas (``read_csv`` / ``read_json(lines=True)`` / ``read_excel``), every cell as
   text, only the columns the source mapping names (SPEC's ``sources``: the config's ``sources`` written out by
   the driver, so the mapping is data here as it is for pace-linkage);
2. clean in pandas, vectorised: names lower-cased, punctuation dropped, spaces collapsed; dates parsed with the
   source's format (or pandas' mixed parsing, day first, where the config leaves the layout open) and written
   ``yyyy-mm-dd`` (a two-digit year past the config's ``reference_date`` a century back), the config's
   placeholder dates nulled; postcodes upper-cased, spaces dropped and the inward code split off (``EH1 1AA``)
   with area, district and sector beside them; NI numbers upper-cased without spaces; sex as ``m`` / ``f``;
   e-mail lower-cased; phone digits only, ``+44`` as ``0``; a Soundex column of a name where a blocking rule
   needs one (jellyfish, over the distinct values);
3. one DuckDB-backed Splink 5 linker over all records (``dedupe_only`` over the stacked partners, which is
   ``link_and_dedupe``), the settings and training plan of ``bench_reference.splink_settings`` (profile
   ``raw``: the reference benchmark's expert comparisons without pace-linkage's nickname columns), the
   blocking rules of SPEC (the config's rules written as Splink ``block_on`` SQL by the driver; a rule's
   ``max_group`` as a key column nulled where more records share it, :func:`capped_keys`);
4. predict and cluster at SPEC's threshold and write ``source, record_id, cluster_id`` to SPEC's ``out`` (CSV).

It prints one ``BENCH_RESULT {...}`` line (counts and stage seconds, never a record value).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

FIELDS = ["nino", "first_name", "surname", "dob", "postcode", "sex", "email", "phone"]
RESULT_MARK = "BENCH_RESULT "


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------
def mapped_columns(mapping) -> list[str]:
    """The source columns one field's mapping reads: a column, a list joined with spaces, or date parts."""
    if isinstance(mapping, dict):
        return list(mapping["parts"].values())
    return list(mapping) if isinstance(mapping, list) else [mapping]


def read_file(path: Path, src: dict, wanted: set[str]) -> pd.DataFrame:
    """One extract file, the wanted columns only, every cell as text (missing as NA)."""
    fmt = src["format"]
    if fmt == "csv":
        return pd.read_csv(path, sep=src["delimiter"], encoding=src["encoding"], dtype=str,
                           usecols=lambda c: c in wanted, keep_default_na=False, na_values=[""])
    if fmt == "jsonl":
        df = pd.read_json(path, lines=True, dtype=False, encoding=src["encoding"])
        df = df[[c for c in df.columns if c in wanted]]
        return df.astype("string").astype(object).where(df.notna(), None)
    sheet = src["sheet"] if src["sheet"] is not None else 0
    return pd.read_excel(path, sheet_name=sheet, dtype=str, usecols=lambda c: c in wanted)


def field_values(df: pd.DataFrame, mapping) -> pd.Series:
    """One field's raw text from the source frame: a column, several joined with a space, or y-m-d parts."""
    if isinstance(mapping, dict):
        p = mapping["parts"]
        y, m, d = (df[p[k]].astype("string").str.strip() for k in ("year", "month", "day"))
        return y + "-" + m.str.zfill(2) + "-" + d.str.zfill(2)
    cols = mapped_columns(mapping)
    out = df[cols[0]].astype("string").fillna("")
    for c in cols[1:]:
        out = out.str.cat(df[c].astype("string").fillna(""), sep=" ")
    return out.str.strip().replace("", pd.NA)


def read_source(src: dict, extracts: Path, today: str | None = None) -> pd.DataFrame:
    """A partner's records as ``source, record_id`` and the mapped fields (raw text)."""
    wanted = {src["record_id"], *(c for m in src["columns"].values() for c in mapped_columns(m))}
    paths = sorted(extracts.glob(src["file"]))
    raw = pd.concat([read_file(p, src, wanted) for p in paths], ignore_index=True) if paths else pd.DataFrame()
    out = pd.DataFrame({"source": src["name"], "record_id": raw.get(src["record_id"], pd.Series(dtype=str))})
    for f in FIELDS:
        out[f] = (field_values(raw, src["columns"][f]) if f in src["columns"] else
                  pd.Series(pd.NA, index=out.index, dtype="string"))
    out["dob"] = clean_dates(out["dob"], src.get("dob_format"), today)
    return out


# --------------------------------------------------------------------------------------------------
# Cleaning (vectorised pandas, as Splink's feature-engineering examples do)
# --------------------------------------------------------------------------------------------------
def clean_dates(values: pd.Series, fmt: str | None, today: str | None = None) -> pd.Series:
    """Dates as ``yyyy-mm-dd`` text: the source's format, or pandas' mixed parsing day first; unread -> NA. A
    two-digit year that reads as a date after ``today`` (the extract date; default the day of the run) is put a
    century back (``%y`` reads 00-68 as 2000-2068)."""
    text = values.astype("string").str.strip()
    if fmt:
        d = pd.to_datetime(text, format=fmt, errors="coerce")
    else:
        d = pd.to_datetime(text, format="mixed", dayfirst=True, errors="coerce")
    if fmt and "%y" in fmt:
        d = d.where(~(d > pd.Timestamp(today or "today")), d - pd.DateOffset(years=100))
    return d.dt.strftime("%Y-%m-%d").astype("string")


def clean_names(values: pd.Series) -> pd.Series:
    s = values.astype("string").str.lower().str.replace(r"[^\w\s'-]", "", regex=True)
    s = s.str.replace(r"\s+", " ", regex=True).str.strip()
    return s.replace("", pd.NA)


def clean_postcodes(values: pd.Series) -> pd.Series:
    s = values.astype("string").str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
    ok = s.str.len().between(5, 7).fillna(False).astype(bool)
    return (s.str[:-3] + " " + s.str[-3:]).where(ok, pd.NA)


def clean(records: pd.DataFrame, placeholders: list[str], sound: list[str]) -> pd.DataFrame:
    """Splink's input frame: ``unique_id`` (row position) and the clean columns, missing as None."""
    out = pd.DataFrame({"unique_id": np.arange(len(records), dtype=np.int64)})
    out["nino"] = records["nino"].astype("string").str.upper().str.replace(r"[^A-Z0-9]", "", regex=True)
    for c in ("first_name", "surname"):
        out[c] = clean_names(records[c])
    out["dob"] = records["dob"].where(~records["dob"].isin(placeholders), pd.NA)
    out["postcode"] = clean_postcodes(records["postcode"])
    out["postcode_district"] = out["postcode"].str.split(" ").str[0]
    out["postcode_area"] = out["postcode_district"].str.extract(r"^([A-Z]+)", expand=False)
    out["postcode_sector"] = out["postcode"].str[:-2]
    out["sex"] = records["sex"].astype("string").str.strip().str.upper().str[:1].map({"M": "m", "F": "f"})
    out["email"] = records["email"].astype("string").str.strip().str.lower().where(
        records["email"].astype("string").str.contains("@", regex=False), pd.NA)
    phone = records["phone"].astype("string").str.replace(r"\D", "", regex=True)
    phone = phone.where(~phone.str.startswith("44"), "0" + phone.str[2:])  # +44 7... -> 07...
    out["phone"] = phone.where(phone.str.len() >= 10, pd.NA)
    for c in sound:  # phonetic blocking keys, computed once per distinct name
        import jellyfish

        codes, uniques = pd.factorize(out[c])
        table = np.array([jellyfish.soundex(u) for u in uniques] + [None], dtype=object)
        out[f"{c}_sound"] = table[codes]
    return out.astype(object).where(out.notna(), None).replace("", None)


def capped_keys(frame: pd.DataFrame, rules: list[dict]) -> tuple[pd.DataFrame, list[list[str]]]:
    """Each rule's ``block_on`` expressions; a rule with ``max_group`` becomes one key column (``_<rule>_key``),
    null where a part is null or more than ``max_group`` records share the key, computed in DuckDB."""
    import duckdb

    con = duckdb.connect()
    con.register("records", frame)
    out = []
    for r in rules:
        if not r["max_group"]:
            out.append(r["on"])
            continue
        col = f"_{r['name']}_key"
        nulls = " OR ".join(f"({e}) IS NULL" for e in r["on"])
        key = f"concat_ws(chr(31), {', '.join(f'CAST(({e}) AS VARCHAR)' for e in r['on'])})"
        sql = (f"WITH k AS (SELECT unique_id, CASE WHEN {nulls} THEN NULL ELSE {key} END AS k FROM records) "
               f"SELECT CASE WHEN k IS NOT NULL AND count(*) OVER (PARTITION BY k) <= {int(r['max_group'])} "
               f"THEN k END AS key FROM k ORDER BY unique_id")
        frame[col] = con.sql(sql).df()["key"].to_numpy()
        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
        out.append([col])
    con.close()
    return frame, out


# --------------------------------------------------------------------------------------------------
# Splink
# --------------------------------------------------------------------------------------------------
def link(frame: pd.DataFrame, spec: dict) -> tuple[pd.DataFrame, dict]:
    """Train, predict and cluster with Splink 5 on DuckDB; (unique_id, cluster_id) and stage seconds."""
    from bench_reference import splink_settings
    from splink import DuckDBAPI, Linker

    frame, blocking = capped_keys(frame, spec["blocking"])
    settings, plan = splink_settings("raw", spec["link_type"], blocking)
    t0 = time.perf_counter()
    linker = Linker(DuckDBAPI().register(frame, dataset_display_name="records"), settings,
                    log_level=logging.WARNING)
    tr = linker.training
    tr.estimate_probability_two_random_records_match(plan["deterministic"], recall=plan["recall"])
    tr.estimate_u_using_random_sampling(max_pairs=spec["u_pairs"], seed=spec["seed"])
    for rule in plan["em_rules"]:
        tr.estimate_parameters_using_expectation_maximisation(rule, estimate_without_term_frequencies=True,
                                                              max_pairs=1e7)
    t_train = time.perf_counter() - t0
    pred = linker.inference.predict(threshold_match_probability=spec["threshold"])
    links = int(pred.as_duckdbpyrelation().count("*").fetchall()[0][0])
    t_predict = time.perf_counter() - t0 - t_train
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pred, threshold_match_probability=spec["threshold"])
    out = clusters.as_duckdbpyrelation().select("unique_id, cluster_id").df()
    stages = {"train": t_train, "predict": t_predict, "cluster": time.perf_counter() - t0 - t_train - t_predict}
    return out, {"links": links, "stages": stages}


def main(spec_path: str) -> dict:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    t0 = time.perf_counter()
    records = pd.concat([read_source(s, Path(spec["extracts"]), spec.get("reference_date")) for s in spec["sources"]],
                        ignore_index=True)
    t_read = time.perf_counter() - t0
    frame = clean(records, spec["placeholders"], spec["sound_columns"])
    t_clean = time.perf_counter() - t0 - t_read
    clusters, info = link(frame, spec)
    cluster_of = pd.Series(clusters["cluster_id"].to_numpy(), index=clusters["unique_id"].to_numpy())
    result = pd.DataFrame({"source": records["source"], "record_id": records["record_id"],
                           "cluster_id": cluster_of.reindex(frame["unique_id"].to_numpy()).to_numpy()})
    result.to_csv(spec["out"], index=False)
    stages = {"read": t_read, "clean": t_clean, **info["stages"]}
    return {"records": int(len(records)), "links": info["links"],
            "stages": {k: round(v, 3) for k, v in stages.items()}}


if __name__ == "__main__":
    print(RESULT_MARK + json.dumps(main(sys.argv[1])), flush=True)
