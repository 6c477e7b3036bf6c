"""The central store on DuckDB: round trip, one transaction per run, replace-not-duplicate, 0600 file,
and the flow's ``store`` parameter (and ``pace-linkage run --store``)."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
import sys

import duckdb
import pandas as pd
import pytest
from conftest import ROOT

from pace_linkage.errors import ConfigError, InputError, PaceError
from pace_linkage.store import database as store

CANARY_NINO = "AB123456C"
CANARY_SURNAME = "QUIXOTECANARY"


RELEASED_PHONE = "+441314960999"


def frames(n_dwp: int = 3, n_sds: int = 2, surname: str = "SMITH") -> dict[str, pd.DataFrame]:
    """Small store frames: records of two partners (one with a canary), their clusters and pairs."""
    srcs = ["dwp"] * n_dwp + ["sds"] * n_sds
    ids = [f"{i:03d}" for i in range(n_dwp)] + [f"{i:03d}" for i in range(n_sds)]
    n = len(srcs)
    records = pd.DataFrame({
        "source": srcs, "record_id": ids, "line": list(range(2, n + 2)),
        "nino": pd.Series([CANARY_NINO] + [None] * (n - 1), dtype="string"),
        "surname": pd.Series([CANARY_SURNAME] + [surname] * (n - 1), dtype="string"),
        "dob": store._as_date(pd.Series(["1970-01-31"] + [None] * (n - 1), dtype="string")),
        "dob_year": pd.Series([1970] + [None] * (n - 1), dtype="Int16"),
        "flags": pd.Series([""] * n, dtype="string"),
    })
    clusters = pd.DataFrame({"source": srcs, "record_id": ids, "pace_id": [f"P{i % 2}" for i in range(n)]})
    pairs = pd.DataFrame({
        "source_l": ["dwp"], "record_id_l": ["000"], "source_r": ["sds"], "record_id_r": ["001"],
        "blocking_rule": ["nino"], "gamma_surname": pd.Series([2], dtype="int8"),
        "match_weight": [12.345678901], "match_probability": [0.999755859375],
    })
    # what sds's agreement releases to dwp about person P1 (both hold it)
    released = pd.DataFrame({"to_source": ["dwp"], "pace_id": ["P1"], "from_source": ["sds"], "field": ["phone"],
                             "value": [RELEASED_PHONE]}, dtype="string")
    return {"records": records, "clusters": clusters, "pairs": pairs, "released": released}


META = {"config_hash": "c" * 64, "version": "0.1.0", "threshold": 0.9, "sources": ["dwp", "sds"], "id_column": "pace_id"}


def counts(path, run_id=None) -> dict[str, int]:
    with store.open_store(path) as st:
        return {t: len(st.read(t, run_id)) for t in (*store.TABLES, store.RUNS)}


# --------------------------------------------------------------------------------------------------
# Locations
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("url,kind,target", [
    ("duckdb:///srv/pace/pace.duckdb", "duckdb", "/srv/pace/pace.duckdb"),
    ("duckdb://rel/pace.duckdb", "duckdb", "rel/pace.duckdb"),
    ("out/pace.duckdb", "duckdb", "out/pace.duckdb"),
    ("postgresql://pace@db.example:5433/pace", "postgresql", "postgresql://pace@db.example:5433/pace"),
    ("postgres://pace@localhost/pace", "postgresql", "postgres://pace@localhost/pace"),
])
def test_store_locations_are_a_path_a_duckdb_url_or_a_postgresql_url(url, kind, target):
    assert store.parse_url(url) == (kind, target)


def test_an_unknown_scheme_is_refused_by_name():
    with pytest.raises(ConfigError, match="unsupported scheme 'mysql'"):
        store.parse_url("mysql://u@h/db")


@pytest.mark.parametrize("url", ["postgresql://pace:s3cr3tpw@h/db", "postgresql://pace@h/db?password=s3cr3tpw"])
def test_a_password_in_a_postgresql_url_is_refused_without_echoing_it(url):
    with pytest.raises(ConfigError) as exc:
        store.parse_url(url)
    assert "s3cr3tpw" not in str(exc.value) and "PGPASSWORD" in str(exc.value)


def test_a_store_location_is_described_without_its_query():
    assert store.describe("postgresql://pace@h:5433/db?sslmode=require") == "postgresql://pace@h:5433/db"


# --------------------------------------------------------------------------------------------------
# DuckDB
# --------------------------------------------------------------------------------------------------
def test_a_run_round_trips_through_duckdb_with_its_types(tmp_path):
    path = tmp_path / "pace.duckdb"
    f = frames()
    with store.open_store(path) as st:
        assert st.write_run("r1", f, META) == {"records": 5, "clusters": 5, "pairs": 1, "released": 1}
        rec = st.read("records", "r1")
        pairs = st.read("pairs", "r1")
        runs = st.runs()
    assert rec["run_id"].eq("r1").all()
    assert rec["record_id"].tolist() == ["000", "001", "002", "000", "001"]  # leading zeros kept
    assert rec.loc[0, "nino"] == CANARY_NINO and pd.isna(rec.loc[1, "nino"])
    assert pd.Timestamp(rec.loc[0, "dob"]).date() == dt.date(1970, 1, 31) and pd.isna(rec.loc[1, "dob"])
    assert rec["dob_year"].iloc[0] == 1970 and pd.isna(rec["dob_year"].iloc[1])
    assert pairs.loc[0, "match_weight"] == 12.345678901 and pairs.loc[0, "match_probability"] == 0.999755859375
    row = runs.iloc[0]
    assert (row["run_id"], row["records"], row["pairs"], row["clusters"]) == ("r1", 5, 1, 2)
    assert row["config_hash"] == "c" * 64 and row["sources"] == "dwp,sds"
    assert json.loads(row["meta"])["threshold"] == 0.9
    with duckdb.connect(str(path), read_only=True) as con:
        types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_name = 'records'").fetchall())
    assert types["dob"] == "DATE" and types["dob_year"] == "SMALLINT" and types["line"] == "BIGINT"


def test_the_duckdb_file_is_created_0600_in_a_new_0700_folder(tmp_path):
    path = tmp_path / "central" / "pace.duckdb"
    with store.open_store(path) as st:
        st.write_run("r1", frames(), META)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert not path.with_name("pace.duckdb.wal").exists()


def test_an_existing_store_file_with_loose_permissions_is_tightened(tmp_path):
    path = tmp_path / "pace.duckdb"
    duckdb.connect(str(path)).close()
    os.chmod(path, 0o644)
    with store.open_store(path) as st:
        st.write_run("r1", frames(), META)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_the_process_umask_is_restored_after_the_store_closes(tmp_path):
    before = os.umask(0o022)
    os.umask(before)
    with store.open_store(tmp_path / "pace.duckdb") as st:
        st.write_run("r1", frames(), META)
    now = os.umask(before)
    os.umask(now)
    assert now == before


def test_writing_the_same_run_id_twice_replaces_its_rows_instead_of_duplicating(tmp_path):
    path = tmp_path / "pace.duckdb"
    with store.open_store(path) as st:
        st.write_run("r1", frames(), META)
        st.write_run("r1", frames(), META)
    assert counts(path) == {"records": 5, "clusters": 5, "pairs": 1, "released": 1, "runs": 1}
    with store.open_store(path) as st:
        st.write_run("r1", frames(n_dwp=1, n_sds=1), META)  # a smaller re-run replaces the bigger one
    assert counts(path) == {"records": 2, "clusters": 2, "pairs": 1, "released": 1, "runs": 1}


def test_runs_with_different_ids_live_side_by_side(tmp_path):
    path = tmp_path / "pace.duckdb"
    with store.open_store(path) as st:
        st.write_run("r1", frames(), META)
        st.write_run("r2", frames(n_dwp=1), META)
        assert st.runs()["run_id"].tolist() == ["r1", "r2"]
    assert counts(path, "r1")["records"] == 5 and counts(path, "r2")["records"] == 3


def test_a_failure_between_table_writes_leaves_the_previous_run_intact(tmp_path, monkeypatch):
    path = tmp_path / "pace.duckdb"
    with store.open_store(path) as st:
        st.write_run("r1", frames(), META)
    before = {t: store.open_store(path).read(t) for t in (*store.TABLES, store.RUNS)}

    real = store.DuckDBStore._write_table

    def crash_before_pairs(self, name, df, run_id):
        if name == "pairs":
            raise RuntimeError("injected crash between table writes")
        return real(self, name, df, run_id)

    monkeypatch.setattr(store.DuckDBStore, "_write_table", crash_before_pairs)
    with store.open_store(path) as st, pytest.raises(RuntimeError, match="injected"):
        st.write_run("r1", frames(n_dwp=1, n_sds=1, surname="JONES"), META)
    with store.open_store(path) as st:
        for t, df in before.items():
            pd.testing.assert_frame_equal(st.read(t), df)


def test_a_database_error_becomes_a_store_error_without_its_message(tmp_path, monkeypatch):
    def convert_fails(self, name, df, run_id):
        raise duckdb.ConversionException(f"Could not convert string '{CANARY_NINO}' to INT32")

    path = tmp_path / "pace.duckdb"
    with store.open_store(path) as st:
        st.write_run("r1", frames(), META)
    monkeypatch.setattr(store.DuckDBStore, "_write_table", convert_fails)
    with store.open_store(path) as st, pytest.raises(store.StoreError) as exc:
        st.write_run("r1", frames(), META)
    msg = str(exc.value)
    assert CANARY_NINO not in msg and exc.value.__cause__ is None and exc.value.__context__ is None
    assert "writing table records" in msg and "ConversionException" in msg and "previous contents" in msg
    assert counts(path)["records"] == 5


def test_a_column_a_later_run_brings_is_added_and_null_for_earlier_runs(tmp_path):
    path = tmp_path / "pace.duckdb"
    f2 = frames()
    f2["records"]["employer"] = pd.Series(["ACME"] * 5, dtype="string")
    with store.open_store(path) as st:
        st.write_run("r1", frames(), META)
        st.write_run("r2", f2, META)
        rec = st.read("records")
    assert rec.loc[rec.run_id == "r1", "employer"].isna().all()
    assert rec.loc[rec.run_id == "r2", "employer"].eq("ACME").all()


def test_a_column_whose_type_changed_is_refused_by_name(tmp_path):
    path = tmp_path / "pace.duckdb"
    f2 = frames()
    f2["records"]["dob"] = f2["records"]["dob"].astype("string")
    with store.open_store(path) as st:
        st.write_run("r1", frames(), META)
        with pytest.raises(ConfigError, match="table records column dob is DATE in the store but VARCHAR"):
            st.write_run("r2", f2, META)
    assert counts(path)["runs"] == 1


def test_unknown_tables_and_an_empty_run_id_are_refused(tmp_path):
    with store.open_store(tmp_path / "pace.duckdb") as st:
        with pytest.raises(ConfigError, match="unknown table"):
            st.write_run("r1", {"people": frames()["records"]}, META)
        with pytest.raises(ConfigError, match="run id is empty"):
            st.write_run("", frames(), META)


def test_a_folder_is_not_a_store_file(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        store.open_store(tmp_path)


# --------------------------------------------------------------------------------------------------
# The flow and the command line
# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stored_run(prefect_harness, synth_data, tmp_path_factory):
    """One flow run on the synthetic data with a DuckDB store: (OUT, store path, flow result)."""
    from flows.pipeline import pace_linkage_pipeline

    out = tmp_path_factory.mktemp("stored")
    path = out / "central" / "pace.duckdb"
    result = pace_linkage_pipeline(extracts=str(synth_data / "extracts"), out=str(out / "run"),
                                   truth=str(synth_data / "truth.csv"), run_id="stored-1", store=str(path))
    return out / "run", path, result


@pytest.mark.e2e
def test_the_flow_writes_the_run_to_the_store_under_the_manifest_run_id(stored_run):
    out, path, result = stored_run
    manifest = json.loads((out / "manifest.json").read_text())
    clusters = pd.read_csv(out / "clusters.csv", dtype=str, keep_default_na=False)
    pairs = pd.read_parquet(out / "pairs.parquet")
    assert "store" in result["timings"]
    with store.open_store(path) as st:
        runs = st.runs()
        rec = st.read("records", "stored-1")
        cl = st.read("clusters", "stored-1")
        pr = st.read("pairs", "stored-1")
    assert runs["run_id"].tolist() == [manifest["run_id"]] == ["stored-1"]
    assert runs.loc[0, "config_hash"] == manifest["config_hash"]
    assert len(rec) == len(cl) == len(clusters) == result["counts"]["rows_accepted"]
    assert len(pr) == len(pairs)
    assert sorted(cl["pace_id"]) == sorted(clusters["pace_id"])
    assert runs.loc[0, "clusters"] == clusters["pace_id"].nunique()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not any(c.endswith(("_sound", "_canon", "_area")) for c in rec.columns)  # clean fields only


@pytest.mark.e2e
def test_storing_a_real_run_again_under_its_id_does_not_duplicate_it(stored_run):
    out, path, _ = stored_run
    with store.open_store(path) as st:
        before = len(st.read("records"))
        tables = {t: st.read(t, "stored-1").drop(columns="run_id") for t in store.TABLES}
        tables["records"]["dob"] = tables["records"]["dob"].dt.date.astype(object)  # read back as datetime64
        st.write_run("stored-1", tables, META)
        assert len(st.read("records")) == before and len(st.runs()) == 1


@pytest.mark.e2e
def test_outbound_writes_one_partners_view_of_the_stored_run(stored_run, tmp_path):
    """The default agreements: SDS releases phone, e-mail and employer to every partner. DWP's file holds
    each of its records once with its pace_id, then values from SDS only, about persons both hold."""
    from typer.testing import CliRunner

    from flows.cli import app

    out, path, _ = stored_run
    target = tmp_path / "to_dwp" / "outbound.csv"
    res = CliRunner().invoke(app, ["outbound", "--store", str(path), "--partner", "dwp", "--out", str(target)])
    assert res.exit_code == 0, res.output
    view = pd.read_csv(target, dtype=str, keep_default_na=False)
    clusters = pd.read_csv(out / "clusters.csv", dtype=str, keep_default_na=False)
    own = view[view["field"] == ""]
    dwp = clusters[clusters["source"] == "dwp"]
    assert sorted(own["record_id"]) == sorted(dwp["record_id"]) and set(own["from_source"]) == {"dwp"}
    got = view[view["field"] != ""]
    assert len(got) > 0 and set(got["from_source"]) == {"sds"} and set(got["field"]) <= {"phone", "email", "employer"}
    sds_persons = set(clusters.loc[clusters["source"] == "sds", "pace_id"])
    assert set(got["pace_id"]) <= sds_persons & set(dwp["pace_id"])
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert f"own records={len(own):,}" in res.output
    again = CliRunner().invoke(app, ["outbound", "--store", str(path), "--partner", "dwp", "--out", str(target)])
    assert again.exit_code != 0 and "--force" in again.output  # an existing file is kept
    unknown = CliRunner().invoke(app, ["outbound", "--store", str(path), "--partner", "nobody", "--out",
                                       str(tmp_path / "x.csv")])
    assert unknown.exit_code != 0 and "has no partner 'nobody'" in unknown.output


def test_run_help_documents_the_store_option():
    res = subprocess.run([sys.executable, "-m", "flows", "run", "--help"], capture_output=True, text=True,
                         cwd=ROOT, timeout=60, env={**os.environ, "COLUMNS": "200"})
    assert res.returncode == 0 and "--store" in res.stdout


def test_run_with_a_password_in_the_store_url_fails_fast_in_one_line_without_it(tmp_path):
    res = subprocess.run([sys.executable, "-m", "flows", "run", "--extracts", str(tmp_path),
                          "--out", str(tmp_path / "out"), "--store", "postgresql://pace:s3cr3tpw@127.0.0.1/pace"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    lines = res.stderr.strip().splitlines()
    assert res.returncode == ConfigError.exit_code and len(lines) == 1
    assert "s3cr3tpw" not in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_store_errors_are_pace_errors_with_their_own_exit_code():
    assert issubclass(store.StoreError, PaceError) and store.StoreError.exit_code == 6


# --------------------------------------------------------------------------------------------------
# Incremental state: replaced whole per run, logs keyed by run id, all in the run's transaction
# --------------------------------------------------------------------------------------------------
def state_frames(status: str = "active") -> tuple[dict, dict]:
    state = {"state_ids": pd.DataFrame({"pace_id": ["P1", "P2"], "status": ["active", status],
                                        "survivor": pd.Series([None, "P1" if status == "retired" else None],
                                                              dtype="string")}),
             "state_assignments": pd.DataFrame({"source": ["dwp", "sds"], "record_id": ["1", "2"],
                                                "pace_id": ["P1", "P1" if status == "retired" else "P2"]})}
    log = {"id_history": pd.DataFrame({"seq": [1], "event": ["merged" if status == "retired" else "created"],
                                       "pace_id": ["P2"]})}
    return state, log


def check_state_round_trip(location) -> None:
    """Shared by the DuckDB and PostgreSQL tests."""
    with store.open_store(location) as st:
        assert st.read_state() == {}
        st.write_run("r1", frames(), META, state=state_frames()[0], log=state_frames()[1])
        st.write_run("r2", {}, META, state=state_frames("retired")[0], log=state_frames("retired")[1])
        st.write_run("r2", {}, META, state=state_frames("retired")[0], log=state_frames("retired")[1])  # again
        now = st.read_state()
        assert now["state_ids"]["status"].tolist() == ["active", "retired"]
        assert now["state_assignments"]["pace_id"].tolist() == ["P1", "P1"]
        assert st.read("id_history")[["run_id", "event"]].values.tolist() == [["r1", "created"], ["r2", "merged"]]
        assert st.has_run("r2") and not st.has_run("r3")
        with pytest.raises(ConfigError, match="unknown table"):
            st.write_run("r3", {}, META, state={"state_people": pd.DataFrame()})


def test_incremental_state_is_replaced_whole_and_its_log_appended_per_run_id(tmp_path):
    check_state_round_trip(tmp_path / "pace.duckdb")


def test_a_failed_incremental_write_keeps_the_previous_state(tmp_path, monkeypatch):
    path = tmp_path / "pace.duckdb"
    with store.open_store(path) as st:
        st.write_run("r1", frames(), META, state=state_frames()[0], log=state_frames()[1])
    real = store.DuckDBStore._write_table

    def crash_on_log(self, name, df, run_id):
        if name == "id_history":
            raise RuntimeError("injected crash after the state tables")
        return real(self, name, df, run_id)

    monkeypatch.setattr(store.DuckDBStore, "_write_table", crash_on_log)
    with store.open_store(path) as st, pytest.raises(RuntimeError, match="injected"):
        st.write_run("r2", {}, META, state=state_frames("retired")[0], log=state_frames("retired")[1])
    with store.open_store(path) as st:
        assert st.read_state()["state_ids"]["status"].tolist() == ["active", "active"]
        assert not st.has_run("r2")
