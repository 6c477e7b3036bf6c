"""A date field's plausibility settings: accepted on the kinds they belong to, one line naming file and key
otherwise."""

import datetime as dt

import pytest
from conftest import write

from pace_linkage.config import load_config
from pace_linkage.errors import ConfigError
from pace_linkage.normalise.dates import EARLIEST, MAX_AGE, MIN_AGE
from pace_linkage.normalise.records import date_limits

CFG = """
fields:
  surname: {kind: name}
  dob: %s
identifying_fields: [surname]
sources:
  items:
    - {name: p, file: p.csv, record_id: id, columns: {surname: Surname, dob: DOB}}
linkage:
  blocking: [{name: s, on: [surname]}]
  comparisons: [{name: surname, column: surname, levels: [{type: exact}]}]
"""


def _load(tmp_path, dob: str):
    return load_config(write(tmp_path / "pace.yaml", CFG % dob))


def test_date_limits_are_read_and_default_to_the_documented_values(tmp_path):
    cfg = _load(tmp_path, "{kind: dob, earliest: 1850-01-01, min_age: 0, max_age: 130, allow_future: true}")
    got = date_limits(cfg.fields["dob"])
    assert (got.earliest, got.min_age, got.max_age, got.allow_future) == (dt.date(1850, 1, 1), 0, 130, True)
    plain = date_limits(_load(tmp_path, "{kind: dob}").fields["dob"])
    assert (plain.earliest, plain.min_age, plain.max_age, plain.allow_future) == (EARLIEST, MIN_AGE, MAX_AGE, None)
    assert plain.earliest == dt.date(1900, 1, 1) and (plain.min_age, plain.max_age) == (14, 110)


@pytest.mark.parametrize(("dob", "said"), [
    ("{kind: name, earliest: 1850-01-01}", "earliest is a setting of kinds dob and date, not name"),
    ("{kind: date, min_age: 3}", "min_age is a setting of kind dob, not date"),
    ("{kind: dob, min_age: 40, max_age: 30}", "min_age (40) is above max_age (30)"),
    ("{kind: dob, earliest: not-a-date}", "fields.dob.earliest"),
    ("{kind: dob, max_age: -1}", "fields.dob.max_age"),
])
def test_a_wrong_date_setting_is_one_line_naming_file_and_key(tmp_path, dob, said):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, dob)
    msg = str(err.value)
    assert "pace.yaml" in msg and "fields.dob" in msg and said in msg and "\n" not in msg
