"""Aggregate-only sharing: counts at the partner, secondary suppression, consent "aggregates only"."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import library_run, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pace_linkage.config import SharingAgreement, load_config
from pace_linkage.errors import ConfigError
from pace_linkage.ingest.sources import assemble, ingest_source, normalise_source
from pace_linkage.pipeline import DEFAULT_FEATURES, evaluate_run, report_page
from pace_linkage.redact import SUPPRESSED, suppress_table, suppression_pattern
from pace_linkage.study.aggregates import (
    NONE_RECORDED,
    OTHER,
    UNKNOWN,
    aggregate_tables,
    partner_counts,
    run_aggregates,
)

CFG = """
reference_date: 2025-03-31
fields:
  surname: {kind: name}
  dob: {kind: dob}
  postcode: {kind: postcode}
identifying_fields: [surname, dob]
sources:
  items:
    - name: p
      label: Partner P
      file: p.csv
      record_id: id
      columns: {surname: Surname, dob: DOB, postcode: Postcode}
      formats: {dob: "%d/%m/%Y"}
      items: {services: [Services], service_date: [Start], outcome: [Outcome], postcode: [Postcode],
              consent: [Consent]}
      SHARING
    - name: q
      file: q.csv
      record_id: id
      columns: {surname: Surname, dob: DOB}
      formats: {dob: "%m/%d/%Y"}
      items: {service_date: [Start], outcome: [Outcome]}
linkage:
  blocking: [{name: s, on: [surname]}]
  comparisons: [{name: surname, column: surname, levels: [{type: exact}]}]
aggregates: {small_count_threshold: 3}
"""
P_ROWS = (
    "id,Surname,DOB,Postcode,Start,Services,Outcome,Consent\n"
    "1,Smith,02/01/1980,EH1 2AB,14/04/2024,CV help; Money advice,Entered work,Y\n"
    "2,Jones,03/02/1981,eh12ab,15/04/2024,cv help|CV HELP,entered  WORK,N\n"
    "3,Brown,04/03/1982,G1 1AA,2024-05-01,,,Y\n"
    "4,Black,05/04/1983,SW1A 1AA,not a date,Money advice,N/A,\n"
    "5,White,06/05/1984,nonsense,,CV help,Entered training,yes\n"
)
Q_ROWS = "id,Surname,DOB,Start,Outcome\n1,Reid,12/31/1970,02/08/2024,Entered work\n2,Hay,01/02/1972,,\n"


def _cfg(tmp_path, sharing: str = ""):
    write(tmp_path / "p.csv", P_ROWS)
    write(tmp_path / "q.csv", Q_ROWS)
    return load_config(write(tmp_path / "pace.yaml", CFG.replace("SHARING", sharing)))


def _as_dict(counts: pd.DataFrame, dimension: str) -> dict[str, int]:
    sub = counts[counts["dimension"] == dimension]
    return dict(zip(sub["category"], sub["clients"].astype(int), strict=True))


# --------------------------------------------------------------------------------------------------
# Counting at the partner
# --------------------------------------------------------------------------------------------------
def test_partner_counts_count_each_client_once_per_category_of_every_dimension(tmp_path):
    cfg = _cfg(tmp_path)
    counts = partner_counts(cfg.sources.items[0], cfg, tmp_path)
    assert list(counts.columns) == ["source", "dimension", "category", "clients"]
    assert counts["clients"].dtype == np.int64 and set(counts["source"]) == {"p"}
    assert _as_dict(counts, "month") == {"2024-04": 2, "2024-05": 1, UNKNOWN: 2}
    # row 2 holds "cv help" twice in two spellings: one client; case variants are one category
    assert _as_dict(counts, "service") == {"CV help": 3, "Money advice": 2, NONE_RECORDED: 1}
    assert _as_dict(counts, "outcome") == {"Entered training": 1, "Entered work": 2, NONE_RECORDED: 2}
    assert _as_dict(counts, "council_area") == {"City of Edinburgh": 2, "Glasgow City": 1, "outside Scotland": 1,
                                                UNKNOWN: 1}
    assert list(dict.fromkeys(counts["dimension"])) == ["month", "service", "outcome", "council_area"]


def test_months_read_the_partners_own_date_order_and_unheld_items_get_no_table(tmp_path):
    cfg = _cfg(tmp_path)
    counts = partner_counts(cfg.sources.items[1], cfg, tmp_path)
    # q writes dates month first (its dob format): 02/08/2024 is 8 February, not 2 August
    assert _as_dict(counts, "month") == {"2024-02": 1, UNKNOWN: 1}
    assert set(counts["dimension"]) == {"month", "outcome"}  # no services, no postcode held


def test_a_row_mask_counts_only_the_chosen_rows(tmp_path):
    cfg = _cfg(tmp_path)
    counts = partner_counts(cfg.sources.items[0], cfg, tmp_path, rows=np.array([True, False, False, False, True]))
    assert _as_dict(counts, "outcome") == {"Entered training": 1, "Entered work": 1}
    assert counts.groupby("dimension")["clients"].sum().loc[["month", "outcome", "council_area"]].tolist() == [2, 2, 2]
    with pytest.raises(ValueError, match="one flag per row"):
        partner_counts(cfg.sources.items[0], cfg, tmp_path, rows=np.array([True]))


def test_counts_are_the_same_whatever_the_row_order_of_the_extract(tmp_path):
    cfg = _cfg(tmp_path)
    before = partner_counts(cfg.sources.items[0], cfg, tmp_path)
    head, *rows = P_ROWS.strip("\n").split("\n")
    write(tmp_path / "p.csv", "\n".join([head, *reversed(rows)]) + "\n")
    pd.testing.assert_frame_equal(before, partner_counts(cfg.sources.items[0], cfg, tmp_path))


# --------------------------------------------------------------------------------------------------
# Secondary suppression
# --------------------------------------------------------------------------------------------------
def _lines(shape: tuple[int, int]) -> list[list[tuple[int, int, int]]]:
    """Each line of a table with margins as (row, col, coefficient): inner cells +1, its total -1."""
    r1, c1 = shape
    rows = [[(i, j, 1 if j < c1 - 1 else -1) for j in range(c1)] for i in range(r1)]
    cols = [[(i, j, 1 if i < r1 - 1 else -1) for i in range(r1)] for j in range(c1)]
    return rows + cols


def _determined(S: np.ndarray) -> list[tuple[int, int]]:
    """Suppressed cells whose value follows exactly from the published cells (linear algebra over every
    row and column equation at once, not only one subtraction at a time)."""
    cells = [tuple(int(x) for x in c) for c in np.argwhere(S)]
    if not cells:
        return []
    pos = {c: k for k, c in enumerate(cells)}
    A = np.zeros((len(_lines(S.shape)), len(cells)))
    for r, line in enumerate(_lines(S.shape)):
        for i, j, coef in line:
            if (i, j) in pos:
                A[r, pos[(i, j)]] = coef
    rank = np.linalg.matrix_rank(A)
    out = []
    for c, k in pos.items():
        unit = np.zeros((1, len(cells)))
        unit[0, k] = 1
        if np.linalg.matrix_rank(np.vstack([A, unit])) == rank:
            out.append(c)
    return out


def _with_margins(inner: np.ndarray) -> np.ndarray:
    full = np.zeros((inner.shape[0] + 1, inner.shape[1] + 1), dtype=np.int64)
    full[:-1, :-1] = inner
    full[:-1, -1], full[-1, :-1], full[-1, -1] = inner.sum(1), inner.sum(0), inner.sum()
    return full


def test_a_lone_small_cell_takes_the_smallest_cells_of_its_row_and_column_with_it():
    t = pd.DataFrame([[20, 3, 15], [12, 30, 25], [40, 22, 18]], index=["a", "b", "c"], columns=["x", "y", "z"])
    out = suppress_table(t, 5)
    assert out.loc["Total", "Total"] == 185 and out.loc["a", "Total"] == 38
    stars = {(r, c) for r in out.index for c in out.columns if out.loc[r, c] == SUPPRESSED}
    assert stars == {("a", "y"), ("a", "z"), ("c", "y"), ("c", "z")}  # 15 in row a, 22 and 18 in c: a cycle
    assert all(isinstance(v, int) for v in out.to_numpy().ravel() if v != SUPPRESSED)


def test_a_small_total_is_suppressed_and_zeros_never_are_by_themselves():
    out = suppress_table(pd.DataFrame([[2, 0], [30, 40]], index=["a", "b"], columns=["x", "y"]), 5)
    assert out.loc["a", "x"] == SUPPRESSED and out.loc["a", "Total"] == SUPPRESSED  # the row total is 2
    assert out.loc["a", "y"] == 0
    assert suppress_table(pd.DataFrame([[0, 0], [30, 40]], index=["a", "b"], columns=["x", "y"]), 5).eq(
        SUPPRESSED).sum().sum() == 0
    assert suppress_table(pd.DataFrame([[1, 2]], index=["a"], columns=["x", "y"]), 1).eq(SUPPRESSED).sum().sum() == 0


def test_a_suppressed_cell_on_no_cycle_is_joined_to_one_even_when_every_line_holds_two():
    inner = np.full((4, 4), 50)
    force = np.zeros((5, 5), dtype=bool)
    for i, j in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (1, 2)]:
        force[i, j] = True  # two 2x2 blocks joined by the single cell (1, 2): a bridge
    assert _determined(force) == [(1, 2)]
    S = suppression_pattern(_with_margins(inner), 5, force)
    assert S[force].all() and S.sum() > force.sum()
    assert _determined(S) == []


def test_suppression_refuses_tables_whose_margins_do_not_add_up():
    bad = _with_margins(np.array([[5, 6], [7, 8]]))
    bad[0, -1] += 1
    with pytest.raises(ValueError, match="totals"):
        suppression_pattern(bad, 5)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 5).flatmap(lambda r: st.integers(1, 5).flatmap(lambda c: st.tuples(
    st.lists(st.lists(st.one_of(st.integers(0, 4), st.integers(0, 40)), min_size=c, max_size=c),
             min_size=r, max_size=r), st.integers(2, 12)))))
def test_no_suppressed_cell_can_be_worked_out_from_the_published_figures(case):
    rows, k = case
    full = _with_margins(np.array(rows, dtype=np.int64))
    S = suppression_pattern(full, k)
    assert S[(full > 0) & (full < k)].all()  # every small cell, totals included, is hidden
    for line in _lines(S.shape):
        hidden = sum(S[i, j] for i, j, _ in line)
        assert hidden == 0 or hidden >= 2  # no value recovered by subtraction along a row or column
    assert _determined(S) == []  # nor by combining rows and columns
    assert np.array_equal(S, suppression_pattern(full, k))  # deterministic


# --------------------------------------------------------------------------------------------------
# Published tables
# --------------------------------------------------------------------------------------------------
def _counts(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["source", "dimension", "category", "clients"]).astype({"clients": "int64"})


def test_a_partner_total_hidden_in_one_table_is_hidden_in_every_table_publishing_it():
    counts = _counts([
        ("a", "month", "2024-01", 40), ("a", "month", "2024-02", 50),
        ("b", "month", "2024-01", 2), ("b", "month", "2024-02", 3),
        ("c", "month", "2024-01", 30), ("c", "month", "2024-02", 30),
        ("a", "outcome", "Work", 90), ("b", "outcome", "Work", 5), ("c", "outcome", "Work", 60),
    ])
    out = aggregate_tables(counts, 10)
    month, outcome = out["tables"]
    assert month["dimension"] == "month" and month["partners"] == ["a", "b", "c"]
    assert month["row_totals"][1] == SUPPRESSED  # b's 5 clients
    assert outcome["cells"][1] == [SUPPRESSED] and outcome["row_totals"][1] == SUPPRESSED  # not 5 here either
    for t in out["tables"]:  # and every published figure is an int or "*"
        for v in [*sum(t["cells"], []), *t["row_totals"], *t["column_totals"], t["total"]]:
            assert v == SUPPRESSED or type(v) is int
    assert json.loads(json.dumps(out)) == out


def test_rare_free_text_categories_are_merged_before_publication_and_unheld_partners_listed():
    counts = _counts([
        ("a", "service", "CV help", 40), ("b", "service", "cv HELP", 12), ("b", "service", "Jo's private note", 1),
        ("a", "month", "2024-01", 41), ("b", "month", "2024-01", 13), ("c", "month", "2024-01", 20),
    ])
    out = aggregate_tables(counts, 10)
    service = next(t for t in out["tables"] if t["dimension"] == "service")
    assert service["categories"] == ["CV help", OTHER]  # the most used spelling; the rare label never shown
    assert "Jo's private note" not in json.dumps(out)
    assert service["not_held"] == ["c"] and "client-services" in service["note"]
    assert any("three times" in s for s in out["what_cannot_be_learned"])
    assert any("overlap" in s.lower() for s in out["what_cannot_be_learned"])


def test_run_aggregates_counts_only_consented_rows_and_lists_a_failed_source(tmp_path):
    cfg = _cfg(tmp_path, "sharing: {consent_column: Consent}")
    (tmp_path / "q.csv").unlink()
    out = run_aggregates(cfg, tmp_path)
    assert [f["source"] for f in out["sources_failed"]] == ["q"] and "\n" not in out["sources_failed"][0]["error"]
    month = out["tables"][0]
    assert month["partners"] == ["p"] and out["threshold"] == 3
    # 3 consented rows (Y, Y, yes); threshold 3 publishes the total
    assert month["row_totals"] == [3] and out["consent"]["p"] == "rows with recorded consent only"


# --------------------------------------------------------------------------------------------------
# Consent: aggregates only
# --------------------------------------------------------------------------------------------------
def test_without_consent_aggregates_needs_a_consent_column(tmp_path):
    with pytest.raises(ConfigError, match="without_consent: aggregates needs a consent_column"):
        _cfg(tmp_path, "sharing: {without_consent: aggregates}")


def test_a_source_format_may_name_a_data_item_but_not_an_unknown_name(tmp_path):
    cfg = _cfg(tmp_path)
    assert cfg.aggregates.small_count_threshold == 3 and list(cfg.aggregates.dimensions)[0] == "month"
    text = CFG.replace("SHARING", "").replace('formats: {dob: "%d/%m/%Y"}', 'formats: {dob: "%d/%m/%Y", service_date: "%d/%m/%Y"}')
    assert load_config(write(tmp_path / "ok.yaml", text)).sources.items[0].formats["service_date"] == "%d/%m/%Y"
    with pytest.raises(ConfigError, match="formats.visit_date: not a declared field or one of the source's items"):
        load_config(write(tmp_path / "bad.yaml", text.replace("service_date: \"%d", "visit_date: \"%d")))
    with pytest.raises(ConfigError, match=r"aggregates.dimensions.month.kind"):
        load_config(write(tmp_path / "k.yaml", CFG.replace("SHARING", "").replace(
            "aggregates: {small_count_threshold: 3}", "aggregates: {dimensions: {month: {item: x, kind: weekly}}}")))


def test_rows_without_consent_are_counted_at_ingest_and_never_linked(tmp_path):
    cfg = _cfg(tmp_path, "sharing: {consent_column: Consent, without_consent: aggregates}")
    src = cfg.sources.items[0]
    batch = ingest_source(src, cfg, tmp_path, features=DEFAULT_FEATURES)
    assert batch.rows_withheld == 2  # rows 2 (N) and 4 (blank)
    wc = batch.extras["aggregates"]
    assert _as_dict(wc, "month") == {"2024-04": 1, UNKNOWN: 1}
    assert _as_dict(wc, "service") == {"CV HELP": 1, "Money advice": 1}  # a tie of spellings: code-point order
    assert _as_dict(wc, "council_area") == {"City of Edinburgh": 1, "outside Scotland": 1}
    normalised = normalise_source(batch, src, cfg, features=DEFAULT_FEATURES)
    assert normalised.extras["aggregates"] is wc
    assert sorted(assemble([normalised])["record_id"]) == ["1", "3", "5"]
    plain = _cfg(tmp_path, "sharing: {consent_column: Consent}")
    assert "aggregates" not in ingest_source(plain.sources.items[0], plain, tmp_path, features=DEFAULT_FEATURES).extras


@pytest.fixture(scope="module")
def withheld_run(synth_data):
    """The library pipeline on the session's synthetic data, SDS withholding rows without consent as
    aggregates only."""
    cfg = load_config()
    sds = next(s for s in cfg.sources.items if s.name == "sds")
    sds.sharing = SharingAgreement(consent_column="Consent_To_Share", without_consent="aggregates")
    run = library_run(synth_data / "extracts", cfg)
    return run, evaluate_run(run, None)


def test_consent_aggregates_reach_the_metrics_as_suppressed_tables_without_any_record_value(withheld_run, synth_data):
    run, metrics = withheld_run
    batch = next(b for b in run.batches if b.source == "sds")
    agg = metrics["aggregates_withheld"]
    assert batch.rows_withheld > 0 and agg["sources"] == ["sds"] and agg["threshold"] == 10
    month = next(t for t in agg["tables"] if t["dimension"] == "month")
    assert month["partners"] == ["sds"]
    total = month["row_totals"][0]
    assert total == SUPPRESSED or total == batch.rows_withheld
    assert int(batch.extras["aggregates"].query("dimension == 'month'")["clients"].sum()) == batch.rows_withheld
    sds = pd.read_csv(synth_data / "extracts" / "sds_pace_clients.csv", dtype=str, keep_default_na=False)
    withheld = sds[sds["Consent_To_Share"].str.strip().str.casefold() != "y"]
    assert len(withheld) == batch.rows_withheld
    text = json.dumps(metrics)
    for col in ["NINO", "Date_of_Birth", "Postcode", "Email", "Client_Ref"]:
        values = [v for v in withheld[col] if len(v) >= 5]
        assert values and not [v for v in values if v in text], col
    assert not [v for v in withheld["Surname"] if f'"{v}"' in text]
    assert not set(withheld["Client_Ref"]) & set(run.records["record_id"])


def test_the_report_shows_aggregate_tables_with_their_stars(withheld_run, tmp_path):
    _, metrics = withheld_run
    html = report_page(metrics, title="t")
    assert 'id="aggregates-withheld"' in html and "Clients without consent (aggregates only)" in html
    section = html.split('id="aggregates-withheld"')[1].split("</section>")[0]
    assert f"<td class=num>{SUPPRESSED}</td>" in section and "Clients by month" in section
    cfg = _cfg(tmp_path)
    scenario = run_aggregates(cfg, tmp_path)
    page = report_page({"aggregates": scenario}, title="t")
    part = page.split('id="aggregates"')[1]
    assert f"<td class=num>{SUPPRESSED}</td>" in part and "What it cannot learn without linkage" in part
    assert "Smith" not in page and "EH1 2AB" not in page
    assert page == report_page({"aggregates": run_aggregates(cfg, tmp_path)}, title="t")
