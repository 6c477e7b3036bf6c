"""Synthetic PACE population and partner extracts: determinism, formats, truth, error rates."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import synthetic
from pace_linkage.config import DEFAULT_CONFIG, load_config
from pace_linkage.errors import ConfigError
from synthetic import corrupt
from synthetic.pools import build_pools
from synthetic.population import NINO_PREFIXES, make_people
from synthetic.settings import ErrorRates, MissingRates, load_settings

CONFIG_DIR = DEFAULT_CONFIG.parent
PEOPLE = 300


@pytest.fixture(scope="module")
def pace():
    return load_config()


@pytest.fixture(scope="module")
def settings(pace):
    return load_settings(CONFIG_DIR / "synthetic.yaml", pace)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "run"
    summary = synthetic.generate(PEOPLE, 7, out)
    return out, summary


@pytest.fixture(scope="module")
def clean_people(settings):
    pools = build_pools(3)
    people, _ = make_people(20_000, pools, settings, np.random.default_rng(3), settings.reference_date)
    return people


def read_extract(path: Path, src) -> pd.DataFrame:
    """Read a partner file the way its config describes (all values as text)."""
    if src.format == "csv":
        return pd.read_csv(path, sep=src.delimiter, encoding=src.encoding, dtype=str, keep_default_na=False)
    if src.format == "jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding=src.encoding).splitlines()]
        return pd.DataFrame(rows)
    return pd.read_excel(path, sheet_name=src.sheet if src.sheet is not None else 0, dtype=object)


def files_of(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------------------------------
# Determinism
# --------------------------------------------------------------------------------------------------
def test_same_seed_and_config_write_byte_identical_files(run, tmp_path):
    out, _ = run
    synthetic.generate(PEOPLE, 7, tmp_path / "again")
    assert files_of(out) == files_of(tmp_path / "again")


def test_next_seed_writes_different_files(run, tmp_path):
    out, _ = run
    synthetic.generate(PEOPLE, 8, tmp_path / "other")
    first, second = files_of(out), files_of(tmp_path / "other")
    assert first.keys() == second.keys()
    changed = [name for name in first if name.startswith("extracts/") and first[name] != second[name]]
    assert len(changed) == sum(1 for name in first if name.startswith("extracts/"))


# --------------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------------
def test_every_partner_file_has_exactly_its_configured_columns(run, pace, settings):
    out, summary = run
    assert len(pace.sources.items) >= 10
    for src in pace.sources.items:
        frame = read_extract(out / "extracts" / src.file, src)
        assert list(frame.columns) == list(settings.partners[src.name].columns), src.name
        assert set(src.columns.values()) | {src.record_id} <= set(frame.columns), src.name
        assert len(frame) == summary["records"][src.name] > 0, src.name


def test_partner_files_use_their_configured_encoding_and_delimiter(run, pace):
    out, _ = run
    for src in pace.sources.items:
        raw = (out / "extracts" / src.file).read_bytes()
        if src.format == "xlsx":
            assert raw[:2] == b"PK"
            continue
        assert raw.startswith(b"\xef\xbb\xbf") == (src.encoding == "utf-8-sig"), src.name
        header = raw.decode(src.encoding).splitlines()[0]
        if src.format == "csv":
            assert header.split(src.delimiter)[0].strip('"') in (src.record_id, "\ufeff" + src.record_id)


def test_partners_mix_formats_encodings_and_identifiers(pace):
    formats = [s.format for s in pace.sources.items]
    assert formats.count("xlsx") >= 2 and "jsonl" in formats and formats.count("csv") >= 5
    assert {"cp1252", "utf-8-sig"} <= {s.encoding for s in pace.sources.items}
    assert {";", "|", "\t"} <= {s.delimiter for s in pace.sources.items}
    with_nino = [s.name for s in pace.sources.items if "nino" in s.columns]
    without = [s.name for s in pace.sources.items if "nino" not in s.columns and "client_id" not in s.columns]
    assert len(with_nino) >= 3 and len(without) >= 3
    assert len({s.formats.get("dob") for s in pace.sources.items}) >= 6


def test_dates_of_birth_parse_with_the_partner_format(run, pace, settings):
    out, _ = run
    for src in pace.sources.items:
        col = src.columns.get("dob")
        if col is None:
            continue
        values = read_extract(out / "extracts" / src.file, src)[col]
        values = values[values.notna() & (values.astype(str) != "")]
        assert len(values) > 0, src.name
        if src.format == "xlsx" and settings.partners[src.name].style.xlsx_dates == "cells":
            assert values.map(lambda v: isinstance(v, (dt.datetime, dt.date, int, float))).all(), src.name
            assert values.map(lambda v: isinstance(v, dt.datetime)).mean() > 0.9
            continue
        fmt = src.formats["dob"]

        def parses(v: str, fmt: str = fmt) -> bool:
            if v.isdigit() and len(v) == 5:  # an Excel serial number (a configured error)
                return True
            try:
                dt.datetime.strptime(v, fmt)
            except ValueError:
                return False
            return True

        assert values.astype(str).map(parses).all(), src.name


def test_record_ids_are_unique_and_keep_leading_zeros(run, pace):
    out, _ = run
    truth = pd.read_csv(out / "truth.csv", dtype=str, keep_default_na=False)
    for src in pace.sources.items:
        ids = truth.loc[truth["source"] == src.name, "record_id"]
        assert ids.is_unique, src.name
    assert truth.loc[truth["source"] == "glasgow_council", "record_id"].str.startswith("0").all()


# --------------------------------------------------------------------------------------------------
# Truth
# --------------------------------------------------------------------------------------------------
def test_every_extract_record_has_exactly_one_truth_row_and_vice_versa(run, pace):
    out, _ = run
    truth = pd.read_csv(out / "truth.csv", dtype=str, keep_default_na=False)
    assert list(truth.columns) == ["source", "record_id", "person_id"]
    assert not truth.duplicated(["source", "record_id"]).any()
    extract_keys = set()
    for src in pace.sources.items:
        frame = read_extract(out / "extracts" / src.file, src)
        extract_keys |= {(src.name, str(v)) for v in frame[src.record_id]}
    assert extract_keys == set(zip(truth["source"], truth["record_id"], strict=True))
    assert truth["person_id"].str.match(r"^P\d{7}$").all()


def test_truth_files_are_kept_outside_the_extracts_folder(run):
    out, _ = run
    names = {p.name for p in (out / "extracts").iterdir()}
    assert not any("truth" in n for n in names)
    assert (out / "truth.csv").exists() and (out / "employer_truth.csv").exists()


def test_employer_extracts_match_employer_truth(run, settings):
    out, _ = run
    truth = pd.read_csv(out / "employer_truth.csv", dtype=str, keep_default_na=False)
    assert list(truth.columns) == ["source", "record_id", "employer_id"]
    for name, ext in settings.employer_extracts.items():
        frame = pd.read_csv(
            out / "extracts" / ext.file,
            sep=ext.delimiter,
            encoding=ext.encoding,
            dtype=str,
            keep_default_na=False,
        )
        assert list(frame.columns) == list(ext.columns)
        id_col = next(c for c, a in ext.columns.items() if a == "record_id")
        assert set(frame[id_col]) == set(truth.loc[truth["source"] == name, "record_id"])


def test_repeat_clients_appear_within_and_across_partners(run):
    out, _ = run
    truth = pd.read_csv(out / "truth.csv", dtype=str)
    per_person = truth.groupby("person_id")["source"].agg(["size", "nunique"])
    assert (per_person["nunique"] >= 2).mean() > 0.3
    assert truth.duplicated(["source", "person_id"]).any()


def test_data_dictionary_describes_every_partner_column(run, pace, settings):
    out, _ = run
    text = (out / "data_dictionary.md").read_text(encoding="utf-8")
    for src in pace.sources.items:
        assert f"`{src.name}`" in text and src.file in text
        for col in settings.partners[src.name].columns:
            assert f"`{col}`" in text


# --------------------------------------------------------------------------------------------------
# Population
# --------------------------------------------------------------------------------------------------
def test_regular_ni_numbers_follow_hmrc_rules_and_are_unique(clean_people):
    regular = clean_people.loc[clean_people["nino_kind"] == "regular", "nino"]
    assert regular.str.match(r"^[A-Z]{2}\d{6}[A-D]$").all()
    assert regular.is_unique
    prefixes = set(regular.str[:2])
    assert prefixes <= set(NINO_PREFIXES)
    assert not prefixes & {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
    assert not set(regular.str[0]) & set("DFIQUV") and not set(regular.str[1]) & set("DFIOQUV")


def test_temporary_ni_numbers_encode_birth_date_and_sex(clean_people):
    temp = clean_people[clean_people["nino_kind"] == "temporary"]
    assert len(temp) > 0
    expected = "TN" + temp["dob"].dt.strftime("%d%m%y") + temp["sex"]
    assert (temp["nino"] == expected).all()
    assert clean_people.loc[clean_people["nino_kind"] == "missing", "nino"].isna().all()


def test_postcodes_are_valid_scottish_unit_postcodes(clean_people):
    areas = "AB|DD|DG|EH|FK|G|HS|IV|KA|KW|KY|ML|PA|PH|TD|ZE"
    pattern = rf"^({areas})\d{{1,2}} \d[ABDEFGHJLNPQRSTUWXYZ]{{2}}$"
    assert clean_people["postcode"].str.match(pattern).all()
    assert clean_people["previous_postcode"].str.match(pattern).all()
    assert (clean_people["postcode"] != clean_people["previous_postcode"]).all()
    assert clean_people["postcode"].duplicated().any()  # neighbours share unit postcodes


def test_people_are_of_working_age_with_scottish_names(clean_people, settings):
    ref = pd.Timestamp(settings.reference_date)
    age = (ref - clean_people["dob"]).dt.days / 365.25
    assert age.min() >= 16 and age.max() < 67
    surnames = clean_people["surname"]
    assert surnames.str.match(r"^(Mc|Mac)").mean() > 0.05
    assert surnames.str.startswith("O'").any() and surnames.str.contains("-").any()


# --------------------------------------------------------------------------------------------------
# Error model
# --------------------------------------------------------------------------------------------------
def _records(people: pd.DataFrame) -> pd.DataFrame:
    return people.copy().reset_index(drop=True)


HOLDS = {
    "nino",
    "first_name",
    "middle_name",
    "surname",
    "dob",
    "sex",
    "postcode",
    "email",
    "phone",
    "client_id",
    "employer",
}


def _eligible(rec: pd.DataFrame, error: str) -> np.ndarray:
    """Where an error is possible, computed independently of the corrupt module."""
    dob = pd.DatetimeIndex(rec["dob"])
    has_first, has_sur = rec["first_name"].notna(), rec["surname"].notna()
    rules = {
        "nickname": rec["nickname"].notna() & (rec["nickname"] != rec["first_name"]),
        "marriage": rec["former_surname"].notna()
        & (rec["sex"] == "F")
        & ((pd.Timestamp("2025-03-31") - rec["dob"]).dt.days / 365.25 >= 20),
        "name_swap": has_first & has_sur & (rec["first_name"] != rec["surname"]),
        "mc_mac": rec["surname"].str.match(r"^(Mc|Mac)[A-Z]|^Mac(donald|kenzie|kay|leod|kintosh|pherson)$"),
        "dob_swap": pd.Series((dob.day <= 12) & (dob.day != dob.month)),
        "dob_digit": rec["dob"].notna(),
        "dob_placeholder": rec["dob"].notna(),
        "nino_digit": rec["nino"].str.match(r"^[A-Z]{2}\d{6}[A-D]$", na=False),
        "moved": rec["postcode"] != rec["previous_postcode"],
        "postcode_typo": rec["postcode"].str.contains(r"[O0I1S5B8Z2G6]"),
        "stale": rec["phone"].notna() & (rec["phone"] != rec["old_phone"]),
        "employer_variant": rec["employer"].notna(),
    }
    return rules[error].fillna(False).to_numpy(dtype=bool)


FIELD_OF = {
    "nickname": "first_name",
    "marriage": "surname",
    "name_swap": "first_name",
    "mc_mac": "surname",
    "dob_swap": "dob",
    "dob_digit": "dob",
    "dob_placeholder": "dob",
    "nino_digit": "nino",
    "moved": "postcode",
    "postcode_typo": "postcode",
    "stale": "phone",
    "employer_variant": "employer",
}


@pytest.mark.parametrize("error", sorted(FIELD_OF))
def test_observed_error_rate_matches_the_configured_rate(clean_people, error):
    rate = 0.2
    rec = _records(clean_people)
    before = rec.copy()
    applied = corrupt.apply_value_errors(
        rec,
        ErrorRates(**{error: rate}),
        MissingRates(),
        np.random.default_rng(11),
        np.datetime64("2025-03-31"),
        HOLDS,
        "phone",
    )
    field = FIELD_OF[error]
    changed = (before[field].astype(object) != rec[field].astype(object)).to_numpy() & before[
        field
    ].notna().to_numpy()
    eligible = _eligible(before, error)
    assert eligible.sum() > 500
    observed = changed[eligible].mean()
    sigma = np.sqrt(rate * (1 - rate) / eligible.sum())
    assert abs(observed - rate) < 4 * sigma, (error, observed)
    assert not changed[~eligible].any()
    assert (changed == applied[error]).all()  # every applied error is visible in the data


@pytest.mark.parametrize(
    "error,field", [("typo", ("first_name", "surname")), ("ocr", ("first_name", "surname"))]
)
def test_name_typos_change_one_name_at_the_configured_rate(clean_people, error, field):
    rate = 0.15
    rec = _records(clean_people)
    before = rec.copy()
    corrupt.apply_value_errors(
        rec,
        ErrorRates(**{error: rate}),
        MissingRates(),
        np.random.default_rng(5),
        np.datetime64("2025-03-31"),
        HOLDS,
    )
    changed = np.zeros(len(rec), dtype=bool)
    for f in field:
        changed |= (before[f] != rec[f]).to_numpy()
    observed = changed.mean()
    # typo: every record eligible; ocr: most names hold a confusable letter
    assert abs(observed - rate) < (0.01 if error == "typo" else 0.03), observed
    dist = [
        abs(len(a) - len(b))
        for a, b in zip(before.loc[changed, "surname"], rec.loc[changed, "surname"], strict=True)
    ]
    assert max(dist) <= 1


def test_missing_rates_blank_the_configured_share(clean_people):
    rec = _records(clean_people)
    present = rec["email"].notna().to_numpy()
    corrupt.apply_value_errors(
        rec,
        ErrorRates(),
        MissingRates(email=0.3, dob=0.1),
        np.random.default_rng(2),
        np.datetime64("2025-03-31"),
        HOLDS,
    )
    assert abs(rec.loc[present, "email"].isna().mean() - 0.3) < 0.02
    assert abs(rec["dob"].isna().mean() - 0.1) < 0.01


def test_ni_number_typed_into_the_phone_box_moves_the_value(clean_people):
    rec = _records(clean_people)
    before = rec.copy()
    applied = corrupt.apply_value_errors(
        rec,
        ErrorRates(nino_wrong_column=0.1),
        MissingRates(),
        np.random.default_rng(9),
        np.datetime64("2025-03-31"),
        HOLDS,
        "phone",
    )
    m = applied["nino_wrong_column"]
    assert abs(m.sum() / before["nino"].notna().sum() - 0.1) < 0.015
    assert rec.loc[m, "nino"].isna().all()
    assert (rec.loc[m, "phone"] == before.loc[m, "nino"]).all()


def test_errors_are_only_drawn_for_fields_the_partner_holds(clean_people):
    rec = _records(clean_people)
    before = rec.copy()
    corrupt.apply_value_errors(
        rec,
        ErrorRates(dob_swap=0.5, nino_digit=0.5),
        MissingRates(nino=0.5),
        np.random.default_rng(1),
        np.datetime64("2025-03-31"),
        {"first_name", "surname"},
    )
    pd.testing.assert_series_equal(rec["dob"], before["dob"].astype(rec["dob"].dtype))
    assert rec["nino"].equals(before["nino"])


def test_keyboard_typo_always_changes_the_value():
    names = np.array(["Campbell", "Anne", "Wiśniewski", "O'Neill", "Lee", "Jo"] * 200, dtype=object)
    out = corrupt.keyboard_typo(names, np.random.default_rng(0))
    assert (out != names).all()
    assert all(abs(len(a) - len(b)) <= 1 for a, b in zip(out, names, strict=True))


def test_postcode_ocr_swaps_letters_and_digits_that_look_alike():
    out = corrupt.confuse(
        np.array(["G1 1AB", "EH10 4ZZ"], dtype=object), corrupt.POSTCODE_OCR, np.random.default_rng(0)
    )
    assert out[0] in {"GI 1AB", "G1 IAB", "61 1AB", "G1 1A8"}
    assert out[1] != "EH10 4ZZ" and len(out[1]) == 8


def test_mc_and_mac_spellings_are_exchanged():
    out = corrupt.mc_mac_variant(pd.Series(["McDonald", "MacLeod", "Mackenzie"]), np.random.default_rng(0))
    assert out[0] in {"MacDonald", "Macdonald"} and out[1] == "McLeod" and out[2] == "McKenzie"


def test_day_and_month_swap_transposes_the_date():
    out = corrupt.swap_day_month(np.array(["1980-03-05"], dtype="datetime64[D]"))
    assert str(out[0]) == "1980-05-03"


def test_stray_spaces_and_case_noise_always_change_the_value():
    values = np.array(["EH6 7HQ", "SMITH", "Smith", "g1 1ab"] * 100, dtype=object)
    out = corrupt.spaces_case(values, np.random.default_rng(0))
    assert (out != values).all()
    assert (
        pd.Series(out).str.replace(" ", "").str.upper() == pd.Series(values).str.replace(" ", "").str.upper()
    ).all()


# --------------------------------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------------------------------
def _copy_config(tmp_path: Path) -> Path:
    dst = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, dst, ignore=shutil.ignore_patterns("examples"))
    return dst


def test_rates_from_config_show_up_in_the_written_files(tmp_path):
    cfg = _copy_config(tmp_path)
    data = yaml.safe_load((cfg / "synthetic.yaml").read_text())
    data["partners"]["sds"]["errors"] = {"dob_placeholder": 0.2}
    data["partners"]["sds"]["missing"] = {"nino": 0.3, "dob": 0.0}
    (cfg / "synthetic.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    out = tmp_path / "out"
    synthetic.generate(2000, 1, out, config_path=cfg / "pace.yaml")
    sds = pd.read_csv(out / "extracts" / "sds_pace_clients.csv", dtype=str, keep_default_na=False)
    truth = pd.read_csv(out / "truth.csv", dtype=str)
    assert len(sds) == (truth["source"] == "sds").sum() > 1000
    placeholder = (sds["Date_of_Birth"] == "01/01/1900").mean()
    assert abs(placeholder - 0.2) < 0.04, placeholder
    # population: ~94% of people have an NI number; sds blanks 30% of those
    blank = (sds["NINO"] == "").mean()
    assert abs(blank - (1 - 0.945 * 0.7)) < 0.04, blank


def test_noisy_profile_multiplies_error_and_missing_rates(pace, settings):
    noisy = load_settings(CONFIG_DIR / "synthetic.yaml", pace, "noisy")
    base, loud = settings.errors_for("sds", "default"), noisy.errors_for("sds", "noisy")
    assert loud.typo == pytest.approx(3 * base.typo)
    assert loud.moved == pytest.approx(3 * base.moved)
    assert noisy.missing_for("dwp", "noisy").email == 1.0  # "never recorded" stays so
    assert noisy.missing_for("sds", "noisy").nino == pytest.approx(
        2 * settings.missing_for("sds", "default").nino
    )


def test_unknown_profile_is_a_config_error(pace):
    with pytest.raises(ConfigError, match="profiles"):
        load_settings(CONFIG_DIR / "synthetic.yaml", pace, "shouty")


def test_column_mapping_disagreeing_with_partner_config_names_file_and_key(tmp_path):
    cfg = _copy_config(tmp_path)
    data = yaml.safe_load((cfg / "synthetic.yaml").read_text())
    data["partners"]["sds"]["columns"]["NINO"] = "phone"
    data["partners"]["dwp"]["errors"]["tyop"] = 0.1
    (cfg / "synthetic.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    with pytest.raises(ConfigError) as exc:
        synthetic.generate(50, 1, tmp_path / "out", config_path=cfg / "pace.yaml")
    msg = str(exc.value)
    assert "partners.sds.columns.NINO" in msg and "partners.dwp.errors.tyop" in msg
    assert "synthetic.yaml" in msg


def test_partnership_lists_every_pace_partner_and_its_data_level(pace):
    part = yaml.safe_load((CONFIG_DIR / "partnership.yaml").read_text())["partners"]
    assert len(part) >= 20
    assert {p["data"] for p in part} == {"client", "business", "client_and_business", "none"}
    sources = {p["source"] for p in part if p.get("source")}
    assert sources == {s.name for s in pace.sources.items}
    assert all(re.match(r"^[a-z0-9_]+$", p["name"]) for p in part)
