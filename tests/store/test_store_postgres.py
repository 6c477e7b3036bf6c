"""The central store on a real PostgreSQL (started on 127.0.0.1 by tests/store/pg.py): COPY round trip, one
transaction per run, and partner access: a partner's role sees only its own
rows, never another partner's nor the NINO column. Permission checks run AS the partner's role (a
superuser bypasses grants and row-level security, so a check run as one would prove nothing)."""

from __future__ import annotations

import itertools

import pandas as pd
import pg
import pytest
from conftest import library_run
from test_store import CANARY_NINO, CANARY_SURNAME, META, frames

from pace_linkage.errors import InputError
from pace_linkage.pipeline import store_run
from pace_linkage.store import database as store

psycopg = pytest.importorskip("psycopg")
_reason = pg.skip_reason()
pytestmark = pytest.mark.skipif(_reason is not None, reason=_reason or "")
_db_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def server():
    srv = pg.start_postgres()
    yield srv
    srv.stop()


@pytest.fixture
def url(server) -> str:
    """A fresh database per test (roles are cluster-wide; the store creates only the missing ones)."""
    name = f"pace_test_{next(_db_numbers)}"
    with psycopg.connect(server.url(), autocommit=True) as con:
        con.execute(f"CREATE DATABASE {name}")
    return server.url(dbname=name)


def three_partners() -> dict[str, pd.DataFrame]:
    """dwp 3 records (one with the canary NINO), sds 2, fife_council 1."""
    f = frames()
    extra = frames(n_dwp=0, n_sds=1)
    for t in ("records", "clusters"):
        e = extra[t].copy()
        e["source"] = "fife_council"
        f[t] = pd.concat([f[t], e], ignore_index=True)
    return f


def write(url_: str, tables=None, run_id: str = "r1", **kw) -> dict:
    with store.open_store(url_, **kw) as st:
        return st.write_run(run_id, tables or three_partners(), {**META, "sources": ["dwp", "fife_council", "sds"]})


def as_role(url_: str, role: str):
    """A connection logged in AS the partner's role (given LOGIN for the test)."""
    with psycopg.connect(url_, autocommit=True) as con:
        con.execute(f'ALTER ROLE "{role}" LOGIN')
    con = psycopg.connect(url_.replace("postgresql://postgres@", f"postgresql://{role}@"), autocommit=True)
    assert con.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchall() == [
        (False, False)]
    return con


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------
def test_a_run_round_trips_through_postgresql_copy_with_its_types(url):
    assert write(url) == {"records": 6, "clusters": 6, "pairs": 1, "released": 1}
    with store.open_store(url) as st:
        rec = st.read("records", "r1")
        pairs = st.read("pairs", "r1")
        runs = st.runs()
    assert len(rec) == 6 and rec.loc[0, "record_id"] == "000" and rec.loc[0, "nino"] == CANARY_NINO
    dwp = rec[rec.source == "dwp"].reset_index(drop=True)
    assert str(dwp.loc[0, "dob"]) == "1970-01-31" and pd.isna(dwp.loc[1, "dob"])
    assert pairs.loc[0, "match_weight"] == 12.345678901 and pairs.loc[0, "match_probability"] == 0.999755859375
    assert runs.loc[0, "records"] == 6 and runs.loc[0, "sources"] == "dwp,fife_council,sds"
    with psycopg.connect(url) as con:
        types = dict(con.execute("SELECT column_name, data_type FROM information_schema.columns "
                                 "WHERE table_schema = 'pace' AND table_name = 'records'").fetchall())
    assert types["dob"] == "date" and types["dob_year"] == "smallint" and types["nino"] == "text"


def test_writing_the_same_run_id_twice_replaces_its_rows_on_postgresql(url):
    write(url)
    write(url)
    write(url, run_id="r2")
    with store.open_store(url) as st:
        assert len(st.read("records", "r1")) == 6 and len(st.read("records")) == 12
        assert st.runs()["run_id"].tolist() == ["r1", "r2"]


def test_a_failure_between_table_writes_keeps_the_previous_postgresql_rows(url, monkeypatch):
    write(url)
    with store.open_store(url) as st:
        before = {t: st.read(t) for t in (*store.TABLES, store.RUNS)}
    real = store.PostgresStore._write_table

    def crash_before_pairs(self, name, df, run_id):
        if name == "pairs":
            raise RuntimeError("injected crash between table writes")
        return real(self, name, df, run_id)

    monkeypatch.setattr(store.PostgresStore, "_write_table", crash_before_pairs)
    with pytest.raises(RuntimeError, match="injected"):
        write(url, frames(n_dwp=1, n_sds=1, surname="JONES"))
    with store.open_store(url) as st:
        for t, df in before.items():
            pd.testing.assert_frame_equal(st.read(t), df)


def test_a_copy_error_quoting_a_row_becomes_a_store_error_without_values(url):
    write(url)
    bad = three_partners()
    bad["records"].loc[1, "surname"] = "BAD\x00NUL"  # PostgreSQL text cannot hold NUL: COPY fails on this row
    with pytest.raises(store.StoreError) as exc:
        write(url, bad)
    msg = str(exc.value)
    assert "writing table records" in msg and "SQLSTATE" in msg
    for value in (CANARY_NINO, CANARY_SURNAME, "SMITH", "BAD"):
        assert value not in msg
    with store.open_store(url) as st:
        assert len(st.read("records")) == 6


def test_a_password_free_url_that_cannot_connect_gives_one_line_without_values(server):
    with pytest.raises(InputError, match="cannot connect") as exc:
        store.open_store(f"postgresql://nobody@127.0.0.1:{server.port}/no_such_db")
    assert "\n" not in str(exc.value)


# --------------------------------------------------------------------------------------------------
# Partner access
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("partner,own_rows", [("dwp", 3), ("sds", 2), ("fife_council", 1)])
def test_a_partner_role_sees_only_its_own_records_with_their_pace_id(url, partner, own_rows):
    write(url)
    with as_role(url, f"pace_{partner}") as con:
        rows = con.execute("SELECT source, record_id, pace_id FROM pace.partner_records ORDER BY record_id").fetchall()
        assert len(rows) == own_rows and {r[0] for r in rows} == {partner}
        assert all(r[2] in ("P0", "P1") for r in rows)
        assert con.execute("SELECT count(*) FROM pace.records WHERE source <> %s", [partner]).fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM pace.clusters WHERE source <> %s", [partner]).fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM pace.records").fetchall() == [(own_rows,)]


@pytest.mark.parametrize("query", [
    "SELECT nino FROM pace.records",
    "SELECT * FROM pace.records",
    "SELECT count(nino) FROM pace.records WHERE source = 'dwp'",
    "SELECT * FROM pace.pairs",
])
def test_a_partner_role_is_denied_the_nino_column_and_the_pairs(url, query):
    write(url)
    with as_role(url, "pace_dwp") as con:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
            con.execute(query)


def test_the_partner_view_has_no_nino_column(url):
    write(url)
    with as_role(url, "pace_dwp") as con:
        cols = [d.name for d in con.execute("SELECT * FROM pace.partner_records LIMIT 0").description]
        rows = con.execute("SELECT * FROM pace.partner_records").fetchall()
    assert "nino" not in cols and {"pace_id", "surname", "dob"} <= set(cols)
    assert CANARY_NINO not in {v for r in rows for v in r}


def test_set_role_to_a_partner_is_filtered_like_a_login_as_it(url):
    write(url)
    with psycopg.connect(url, autocommit=True) as con:
        con.execute("SET ROLE pace_sds")
        assert con.execute("SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user").fetchall() == [
            ("pace_sds", False)]
        assert con.execute("SELECT DISTINCT source FROM pace.partner_records").fetchall() == [("sds",)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            con.execute("SELECT nino FROM pace.records")


def test_nino_goes_out_only_when_a_sharing_agreement_clears_it_and_is_withdrawn_again(url):
    write(url, private_columns=())  # an agreement allowing NINO
    with as_role(url, "pace_dwp") as con:
        assert con.execute("SELECT nino FROM pace.records WHERE nino IS NOT NULL").fetchall() == [(CANARY_NINO,)]
    write(url)  # the default again: withdrawn
    with as_role(url, "pace_dwp") as con, pytest.raises(psycopg.errors.InsufficientPrivilege):
        con.execute("SELECT nino FROM pace.records")


def test_a_real_run_is_stored_and_partitioned_by_partner(url, synth_data):
    """The library path on the synthetic data: every partner role sees exactly its own accepted records."""
    from pace_linkage.config import load_config

    cfg = load_config()
    lk = cfg.linkage
    lk.em.u_sample_pairs = 50_000  # quality is not under test here: keep training quick
    run = library_run(synth_data / "extracts", cfg)
    records, blocked = run.records, run.blocking
    res = store_run(url, run, "synthetic")
    assert res["records"] == len(records) and res["pairs"] == len(blocked.pairs) and "@" in res["store"]
    per_source = records["source"].value_counts()
    for src in ("dwp", "citizens_advice"):
        with as_role(url, f"pace_{src}") as con:
            assert con.execute("SELECT count(*), count(DISTINCT source) FROM pace.partner_records").fetchall() == [
                (int(per_source[src]), 1)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute("SELECT nino FROM pace.records")


def test_incremental_state_round_trips_through_postgresql(url):
    from test_store import check_state_round_trip

    check_state_round_trip(url)


def test_a_partner_role_reads_only_the_values_released_to_it(url):
    """sds's agreement releases a phone number to dwp about a person both hold: dwp's role reads it;
    sds (the sender) and fife_council (not a recipient) read no released row, and none may write one."""
    from test_store import RELEASED_PHONE

    write(url)
    with as_role(url, "pace_dwp") as con:
        assert con.execute("SELECT to_source, pace_id, from_source, field, value FROM pace.released").fetchall() == [
            ("dwp", "P1", "sds", "phone", RELEASED_PHONE)]
    for role in ("pace_sds", "pace_fife_council"):
        with as_role(url, role) as con:
            assert con.execute("SELECT count(*) FROM pace.released").fetchall() == [(0,)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                con.execute("DELETE FROM pace.released")


def test_workbench_labels_append_in_order_on_postgresql_and_no_partner_reads_them(url):
    write(url)
    label = pd.DataFrame([{"source_l": "dwp", "record_id_l": "000", "source_r": "sds", "record_id_r": "000",
                           "label": "non-match"}])
    with store.open_store(url, create=False) as st:
        assert st.append_labels("r1", label) == [1]
        assert st.append_labels("r1", pd.concat([label.assign(label="match"), label], ignore_index=True)) == [2, 3]
        back = st.read(store.LABELS)
    assert back.columns.tolist() == ["run_id", *store.LABEL_COLUMNS, "seq"]
    assert back["seq"].tolist() == [1, 2, 3] and back["label"].tolist() == ["non-match", "match", "non-match"]
    with as_role(url, "pace_dwp") as con, pytest.raises(psycopg.errors.InsufficientPrivilege):
        con.execute("SELECT * FROM pace.labels")
