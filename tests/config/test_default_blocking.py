"""The default blocking rules (config/pace.yaml) keep two records of one person together through each error a
record may carry, written here by hand (not by the generator), with no NI number on either record."""

from __future__ import annotations

import pandas as pd
import pytest

from pace_linkage.config import load_config
from pace_linkage.engine.blocking import block
from pace_linkage.normalise.records import normalise_records

BASE = {"first_name": "James", "surname": "Robertson", "dob": "1984-07-03", "sex": "M", "postcode": "EH12 5AB"}
ERRORS = {
    "names swapped": {"first_name": "Robertson", "surname": "James"},
    "nickname": {"first_name": "Jimmy"},
    "spelling variant": {"surname": "Robertsen"},
    "married surname": {"surname": "Macleod"},
    "double-barrelled surname": {"surname": "Macleod-Robertson"},
    "day and month swapped": {"dob": "1984-03-07"},
    "birth date a day out": {"dob": "1984-07-04"},
    "birth date a year out": {"dob": "1985-07-03"},
    "birth date a digit out": {"dob": "1994-07-03"},
    "moved": {"postcode": "G41 2QR"},
    "slips in both names": {"first_name": "Jmaes", "surname": "Eobertson"},
    "first letters of both names wrong": {"first_name": "Kames", "surname": "Tobertson"},
    "a year out and moved": {"dob": "1983-07-03", "postcode": "AB10 1XY"},
    "names swapped and moved": {"first_name": "Robertson", "surname": "James", "postcode": "AB10 1XY"},
    "names swapped, a year out": {"first_name": "Robertson", "surname": "James", "dob": "1985-07-03"},
}
OTHERS = [  # people who must not make the rules generate everything
    {"first_name": "Anna", "surname": "Smith", "dob": "1990-01-02", "sex": "F", "postcode": "KA1 1AA"},
    {"first_name": "Peter", "surname": "Jones", "dob": "1970-11-12", "sex": "M", "postcode": "DD1 4HN"},
]


@pytest.fixture(scope="module")
def cfg():
    return load_config(None)


@pytest.mark.parametrize("error", list(ERRORS))
def test_default_rules_pair_two_records_of_a_person_through_each_error(cfg, error):
    rows = [BASE, {**BASE, **ERRORS[error]}, *OTHERS]
    raw = pd.DataFrame(rows).assign(source=["a", "b", "a", "b"], record_id=["1", "1", "2", "2"], nino=None)
    rec, _ = normalise_records(raw, cfg.fields, today=cfg.reference_date)
    pairs = block(rec, cfg.linkage.blocking, cfg.linkage.link_type).pairs
    got = set(zip(pairs["l"].tolist(), pairs["r"].tolist(), strict=True))
    assert (0, 1) in got
    assert (2, 3) not in got
