"""Blocking key transforms: prefix, Soundex, order-insensitive sets and date parts, as settings and in blocking."""

from __future__ import annotations

import datetime as dt

import jellyfish
import numpy as np
import pandas as pd
import pytest
from conftest import write
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from pace_linkage.config import load_config
from pace_linkage.engine.blocking import block, rule_key
from pace_linkage.engine.keys import key_frame, prefix, sorted_set, soundex
from pace_linkage.engine.settings import BlockingKey, BlockingRule
from pace_linkage.errors import ConfigError

NAME_SET = BlockingKey(transform="set", columns=["first_name", "surname"])


def pairs_of(rec: pd.DataFrame, rule: BlockingRule) -> set[tuple[int, int]]:
    res = block(rec, [rule])
    return set(zip(res.pairs["l"].tolist(), res.pairs["r"].tolist(), strict=True))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=14), min_size=1, max_size=20))
def test_soundex_agrees_with_jellyfish_on_letters(names):
    got = soundex(pd.Series(names, dtype="string")).tolist()
    assert got == [jellyfish.soundex(n) for n in names]


def test_soundex_ignores_case_and_non_letters_and_nulls_what_has_no_letter():
    got = soundex(pd.Series(["o'neil", "O NEIL", None, "123", ""], dtype="string")).tolist()
    assert got[0] == got[1] == jellyfish.soundex("ONEIL")
    assert all(pd.isna(v) for v in got[2:])


def test_prefix_keeps_shorter_values_whole_and_nulls_null():
    got = prefix(pd.Series(["JONATHAN", "JO", None], dtype="string"), 3).tolist()
    assert got[:2] == ["JON", "JO"] and pd.isna(got[2])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text("ABC", min_size=1, max_size=3), st.text("ABC", min_size=1, max_size=3)),
                min_size=1, max_size=15))
def test_a_set_key_is_the_same_for_values_in_either_order(rows):
    frame = pd.DataFrame(rows, columns=["x", "y"])
    ab, ba = sorted_set(frame[["x", "y"]]), sorted_set(frame[["y", "x"]].set_axis(["x", "y"], axis=1))
    for u, v in zip(ab, ba, strict=True):
        assert u.tolist() == v.tolist()


def test_first_name_and_surname_swapped_are_blocked_together_by_a_name_set():
    rec = pd.DataFrame({"first_name": ["ANNA", "SMITH", "ANNA", None],
                        "surname": ["SMITH", "ANNA", "SMYTH", "SMITH"]})
    assert pairs_of(rec, BlockingRule(name="names", on=[NAME_SET])) == {(0, 1)}  # a null name: no pair


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2030, 12, 31)))
def test_a_date_and_its_day_month_swap_share_year_and_day_month_set(day):
    if day.day > 12:
        return
    swapped = day.replace(month=day.day, day=day.month)
    rec = pd.DataFrame({"dob": [day.isoformat(), swapped.isoformat()]})
    rule = BlockingRule(name="d", on=[BlockingKey(transform="year", column="dob"),
                                      BlockingKey(transform="day_month_set", column="dob")])
    key = rule_key(rec, rule)
    assert key[0] == key[1] >= 0


def test_date_parts_read_iso_text_and_datetimes_alike_and_null_what_is_not_a_date():
    text = pd.DataFrame({"dob": ["1980-03-07", "1981-03-07", "not a date", None]})
    dates = pd.DataFrame({"dob": pd.to_datetime(["1980-03-07", "1981-03-07", None, None])})
    for transform, same in (("year", False), ("month_day", True), ("month", True), ("day", True)):
        rule = BlockingRule(name="d", on=[BlockingKey(transform=transform, column="dob")])
        for rec in (text, dates):
            key = rule_key(rec, rule)
            assert bool(key[0] == key[1]) is same and key[0] >= 0 and key[2] == key[3] == -1


def test_transform_rules_give_the_pairs_of_exact_rules_on_the_transformed_columns():
    rng = np.random.default_rng(3)
    n = 60
    rec = pd.DataFrame({
        "first_name": rng.choice(["ANN", "ANNA", "BOB", None], n),
        "surname": rng.choice(["SMITH", "SMYTH", "ANN", "BOB"], n),
        "dob": rng.choice(["1980-01-02", "1980-02-01", "1981-01-02", None], n),
    })
    rule = BlockingRule(name="r", on=[NAME_SET, BlockingKey(transform="prefix", column="surname", length=3),
                                      BlockingKey(transform="day_month_set", column="dob")])
    keys = key_frame(rec, rule)
    assert pairs_of(rec, rule) == pairs_of(keys, BlockingRule(name="k", on=list(keys.columns)))
    assert rule.columns() == ["first_name", "surname", "dob"]


def test_incremental_blocking_with_transforms_equals_full_blocking_filtered():
    rec = pd.DataFrame({"first_name": ["ANN", "SMITH", "ANN", "ANN", "SMITH"],
                        "surname": ["SMITH", "ANN", "SMITH", "JONES", "ANN"]})
    rule = BlockingRule(name="names", on=[NAME_SET])
    new = np.array([False, False, True, False, False])
    full = block(rec, [rule]).pairs
    touch = full[new[full["l"]] | new[full["r"]]].reset_index(drop=True)
    pd.testing.assert_frame_equal(block(rec, [rule], new=new).pairs, touch)


def test_a_window_rule_sorts_by_the_transformed_key():
    rec = pd.DataFrame({"surname": ["SMITHSON", "JONES", "SMITHERS", "ADAMS"]})
    rule = BlockingRule(name="w", on=[BlockingKey(transform="prefix", column="surname", length=5)], window=2)
    assert (0, 2) in pairs_of(rec, rule)


@pytest.mark.parametrize("part, wrong", [
    ({"transform": "set", "column": "surname"}, "takes 'columns'"),
    ({"transform": "set", "columns": ["surname"]}, "at least 2"),
    ({"transform": "prefix", "column": "surname"}, "'length' goes with transform 'prefix'"),
    ({"transform": "year", "column": "dob", "length": 2}, "'length' goes with transform 'prefix'"),
    ({"transform": "year", "columns": ["dob", "surname"]}, "takes one 'column'"),
    ({"transform": "metaphone", "column": "surname"}, "transform"),
])
def test_a_key_part_without_what_its_transform_needs_is_refused(part, wrong):
    with pytest.raises(ValidationError, match=wrong):
        BlockingRule(name="r", on=[part])


def test_a_config_names_the_rule_and_the_unknown_column_of_a_key_part(tmp_path):
    text = """
fields:
  surname: {kind: name}
  dob: {kind: dob}
identifying_fields: [surname, dob]
sources:
  items:
    - {name: p, file: p.csv, record_id: id, columns: {surname: Surname, dob: DOB}}
linkage:
  blocking:
    - {name: s, on: [{transform: set, columns: [surname, forename]}, {transform: year, column: dob}]}
  comparisons: [{name: surname, column: surname, levels: [{type: exact}]}]
"""
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path / "pace.yaml", text))
    assert "linkage.blocking.0.on: column 'forename' is not produced by any field" in str(err.value)
    assert len(load_config(write(tmp_path / "ok.yaml", text.replace("forename", "surname_sound"))).linkage.blocking) == 1
