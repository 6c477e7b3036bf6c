"""E-mail addresses compared by their parts (malformed ones kept as written) and postal codes of any country."""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pace_linkage.config import FieldSpec
from pace_linkage.normalise import email, email_columns, normalise_records, postal_code, postal_code_columns


def _email_frame(values: list) -> pd.DataFrame:
    cols = email_columns(pd.Series(values, dtype=object))
    return pd.DataFrame(dict(zip(["email", "user", "domain", "text", "reason"], cols, strict=True)))


def test_valid_address_splits_into_user_without_tag_and_domain():
    row = _email_frame(["Jo.Smith+news@Gmail.com"]).iloc[0]
    assert row["email"] == "jo.smith+news@gmail.com"
    assert (row["user"], row["domain"], row["text"]) == ("jo.smith", "gmail.com", "jo.smith+news@gmail.com")
    assert row["reason"] is None


@pytest.mark.parametrize("raw, user, domain, text", [
    ("jo.smith@gmail,com", "jo.smith", "gmail,com", "jo.smith@gmail,com"),  # comma for a dot
    ("Jo Smith@gmail.com", "josmith", "gmail.com", "josmith@gmail.com"),  # a blank inside
    ("jo.smith@gmail", "jo.smith", "gmail", "jo.smith@gmail"),  # no top-level domain
    ("jo.smithgmail.com", None, None, "jo.smithgmail.com"),  # no @: kept as text only
    ("jo@@gmail.com", None, None, "jo@@gmail.com"),
])
def test_malformed_address_is_nulled_with_a_reason_but_kept_as_text(raw, user, domain, text):
    row = _email_frame([raw]).iloc[0]
    assert pd.isna(row["email"]) and row["reason"] == "email_invalid"
    assert (None if pd.isna(row["user"]) else row["user"]) == user
    assert (None if pd.isna(row["domain"]) else row["domain"]) == domain
    assert row["text"] == text


@pytest.mark.parametrize("raw", ["noemail@nhs.net", "N/A", "test@test.com"])
def test_placeholder_address_is_null_everywhere(raw):
    row = _email_frame([raw]).iloc[0]
    assert row[["email", "user", "domain", "text"]].isna().all() and row["reason"] == "email_placeholder"


def test_records_carry_email_parts_and_count_malformed_by_reason():
    df = pd.DataFrame({"source": "p", "record_id": ["1", "2", "3", "4"], "line": [2, 3, 4, 5],
                       "email": ["a.b@x.org", "a.b@x,org", None, "none@x.org"]})
    records, reasons = normalise_records(df, {"email": FieldSpec(kind="email")})
    assert list(records.columns) == ["source", "record_id", "line", "email", "email_user", "email_domain",
                                     "email_text", "flags"]
    assert records["email_text"].tolist()[:2] == ["a.b@x.org", "a.b@x,org"]
    assert records["email_user"].tolist()[:2] == ["a.b", "a.b"]
    counts = dict(zip(reasons["reason"], reasons["count"], strict=True))
    assert counts == {"email_invalid": 1, "email_placeholder": 1}
    # present = valid + nulled, as the coverage section relies on
    assert int(records["email"].notna().sum()) + sum(counts.values()) == 3


@given(st.emails())
def test_every_valid_address_has_text_equal_to_itself_and_parts_that_rebuild_it(addr):
    clean = email(addr)
    row = _email_frame([addr]).iloc[0]
    if clean is None:
        return  # a placeholder, or outside the documented ASCII form: nulled with a reason
    assert row["text"] == clean and clean.endswith("@" + row["domain"])
    assert clean.startswith(row["user"])


@given(st.text(max_size=30))
def test_email_columns_are_total_and_text_is_kept_whenever_a_reason_is_invalid(value):
    row = _email_frame([value]).iloc[0]
    written = "".join(value.split()).lower()
    if row["reason"] == "email_invalid" and written.removeprefix("mailto:"):
        assert not pd.isna(row["text"])  # anything left once blanks and mailto: are dropped is kept
    if pd.isna(row["text"]):
        assert pd.isna(row["email"])


@pytest.mark.parametrize("raw, code, p2, p3, p4", [
    ("k1a 0b1", "K1A0B1", "K1", "K1A", "K1A0"),  # Canada
    ("90210-1234", "902101234", "90", "902", "9021"),  # US ZIP+4
    ("1234 ab", "1234AB", "12", "123", "1234"),  # Netherlands
    ("D02 X285", "D02X285", "D0", "D02", "D02X"),  # Ireland (Eircode)
    ("2000", "2000", "20", "200", "2000"),  # Australia
    ("75008", "75008", "75", "750", "7500"),  # France
    ("EH1 2AB", "EH12AB", "EH", "EH1", "EH12"),  # a UK code is kept too, compact
])
def test_postal_code_keeps_codes_of_any_country_with_prefixes(raw, code, p2, p3, p4):
    cols = postal_code_columns(pd.Series([raw], dtype=object))
    assert [c.iloc[0] for c in cols] == [code, p2, p3, p4, None]


@pytest.mark.parametrize("raw, reason", [("LONDON", "postal_code_invalid"), ("-", "postal_code_invalid"),
                                         ("12345678901", "postal_code_invalid"), ("ABROAD", "postal_code_invalid"),
                                         ("00000", "postal_code_placeholder"), ("n/a", "postal_code_placeholder")])
def test_postal_code_nulls_words_overlong_values_and_placeholders_with_a_reason(raw, reason):
    cols = postal_code_columns(pd.Series([raw], dtype=object))
    assert cols[0].isna().all() and cols[-1].iloc[0] == reason


def test_postal_code_configured_placeholder_is_counted():
    df = pd.DataFrame({"source": "p", "record_id": ["1", "2"], "line": [2, 3], "zip": ["99999", "10115"]})
    records, reasons = normalise_records(df, {"zip": FieldSpec(kind="postal_code", placeholders=["99999"])})
    assert records["zip"].tolist()[1] == "10115" and pd.isna(records["zip"].iloc[0])
    assert reasons["reason"].tolist() == ["postal_code_placeholder"]


@given(st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789 -.", max_size=14))
def test_postal_code_is_idempotent_and_prefixes_lead_it(value):
    code = postal_code(value)
    if code is None:
        return
    assert postal_code(code) == code
    assert code.isascii() and code.isalnum() and code == code.upper() and any(ch.isdigit() for ch in code)
    cols = postal_code_columns(pd.Series([value], dtype=object))
    for k, col in zip((2, 3, 4), cols[1:4], strict=True):
        assert col.iloc[0] == code[:k]


def test_email_comparison_by_parts_reaches_malformed_addresses():
    """The comparison the README shows: a malformed address still gets a (fuzzy) level, not 'null'."""
    from pace_linkage.engine.compare import compare
    from pace_linkage.engine.settings import ComparisonSpec
    from pace_linkage.schema import LEFT, RIGHT

    raw = ["jo.smith@gmail.com", "jo.smith@gmail.com", "jo.smith+x@outlook.com", "jo.smyth@gmail,com", None]
    df = pd.DataFrame({"source": "p", "record_id": [str(i) for i in range(5)], "line": range(5), "email": raw})
    records, _ = normalise_records(df, {"email": FieldSpec(kind="email")})
    spec = ComparisonSpec.model_validate({"name": "email", "column": "email_text", "levels": [
        {"type": "exact", "column": "email"}, {"type": "exact", "column": "email_user"},
        {"type": "jaro_winkler", "threshold": 0.9}]})
    pairs = pd.DataFrame({LEFT: [0, 0, 0, 0], RIGHT: [1, 2, 3, 4]})
    gamma = compare(records.reset_index(drop=True), pairs, [spec])["email"].tolist()
    # level 0 = same address, 1 = same user part, 2 = fuzzy (the malformed one); -1 = null (no address)
    assert gamma == [0, 1, 2, -1]
