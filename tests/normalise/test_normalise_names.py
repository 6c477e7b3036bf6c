"""Rules of the name normaliser: clean form, comparison form, phonetic code."""

import pandas as pd
import pytest

from pace_linkage.normalise import name, name_canon, name_columns, name_series, name_sound, nicknames


def _reason(value):
    return name_series(pd.Series([value], dtype=object))[1].iloc[0]


def test_name_upper_cases_and_folds_accents():
    assert name("Seán") == "SEAN"
    assert name("Zoë") == "ZOE"
    assert name("Łukasz") == "LUKASZ"
    assert name("Ægir Ørsted") == "AEGIR ORSTED"


def test_name_removes_apostrophes_and_splits_hyphens():
    assert name("O'Neil") == "ONEIL"
    assert name("O’Brien") == "OBRIEN"
    assert name("Smith-Jones") == "SMITH JONES"
    assert name("  de   la  Cruz ") == "DE LA CRUZ"


def test_name_removes_titles_and_suffixes_but_never_the_last_word():
    assert name("Mr John Smith") == "JOHN SMITH"
    assert name("Dr. Jane Smith Jr") == "JANE SMITH"
    assert name("Rev Sir Hugh Brown III") == "HUGH BROWN"
    assert name("Lord") == "LORD"


@pytest.mark.parametrize("raw", ["UNKNOWN", "Not Known", "N/A", "n/a", "-", "?", "XXX", "NULL", "NA", "none", "Mr Unknown"])
def test_name_nulls_placeholders_with_a_reason(raw):
    assert name(raw) is None
    assert _reason(raw) == "name_placeholder"


def test_name_nulls_values_without_latin_letters_as_invalid():
    assert name("12345") is None
    assert _reason("12345") == "name_invalid"
    assert _reason("王") == "name_invalid"


def test_name_treats_blank_as_absent_without_a_reason():
    assert name("   ") is None
    assert _reason("   ") is None


@pytest.mark.parametrize("raw", ["McDonald", "MacDonald", "M'Donald", "M’Donald", "Mac Donald", "MC DONALD", "mcdonald"])
def test_name_canon_folds_mc_mac_and_m_apostrophe(raw):
    assert name_canon(raw, given_name=False) == "MACDONALD"


def test_name_canon_removes_spaces_so_double_barrelled_names_compare_whole():
    assert name_canon("Smith-Jones", given_name=False) == "SMITHJONES"
    assert name_canon("Smith Jones", given_name=False) == "SMITHJONES"
    assert name_canon("O'Neil", given_name=False) == name_canon("O Neil", given_name=False) == "ONEIL"


@pytest.mark.parametrize(
    "nick, formal",
    [("Bob", "ROBERT"), ("Robbie", "ROBERT"), ("Rab", "ROBERT"), ("Jim", "JAMES"), ("Jimmy", "JAMES"),
     ("Jamie", "JAMES"), ("Sandy", "ALEXANDER"), ("Alex", "ALEXANDER"), ("Eck", "ALEXANDER"),
     ("Liz", "ELIZABETH"), ("Beth", "ELIZABETH"), ("Betty", "ELIZABETH"), ("Kate", "CATHERINE"),
     ("Katie", "CATHERINE"), ("Iain", "IAN"), ("Shug", "HUGH"), ("Bill", "WILLIAM")],
)
def test_name_canon_maps_nicknames_of_given_names(nick, formal):
    assert name_canon(nick) == formal
    assert name_canon(formal) == formal


def test_name_canon_applies_nicknames_to_the_first_word_only_and_never_to_surnames():
    assert name_canon("Bob Jim") == "ROBERTJIM"
    assert name_canon("Bob", given_name=False) == "BOB"


def test_nickname_table_is_closed_so_one_lookup_reaches_the_formal_name():
    table = nicknames()
    assert len(table) >= 300
    assert not set(table.values()) & set(table)
    assert all(k.isalpha() and k.isupper() for k in table)


def test_name_sound_uses_soundex_of_the_comparison_form():
    assert name_sound("Stewart", given_name=False) == name_sound("Stuart", given_name=False)
    assert name_sound("McKenzie", given_name=False) == name_sound("MacKenzie", given_name=False)
    assert name_sound("Bob") == name_sound("Robert") == "R163"


def test_name_columns_give_clean_canon_sound_and_initial():
    clean, canon, sound, initial, reason = name_columns(pd.Series(["Mr Bob O'Neil", None, "?"]), given_name=True)
    assert clean.iloc[0] == "BOB ONEIL"
    assert canon.iloc[0] == "ROBERTONEIL"
    assert sound.iloc[0] == "R163"
    assert initial.iloc[0] == "B"
    assert clean.iloc[1:].isna().all() and canon.iloc[1:].isna().all()
    assert list(reason) == [None, None, "name_placeholder"]
