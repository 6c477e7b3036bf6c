"""Pseudonymised linkage: keyed tokens, HKDF keys, Bloom filters, the Dice level, attacks and quality."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pace_linkage.config import BloomSpec, Hardening, load_config
from pace_linkage.engine.compare import ColumnCache, compare_one
from pace_linkage.engine.settings import ComparisonSpec, LevelSpec
from pace_linkage.errors import ConfigError
from pace_linkage.normalise import normalise_records
from pace_linkage.study.pseudonymise import (
    bits_set_share,
    blake_positions,
    bloom_encode,
    field_key,
    frequency_attack,
    hkdf,
    hmac_tokens,
    key_id,
    load_key,
    parse_key,
    pattern_attack,
    pseudonymise_records,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "config" / "examples" / "pseudonymised.yaml"
KEY = bytes(range(32))


@pytest.fixture(scope="module")
def cfg():
    return load_config(EXAMPLE)


def _normalised(cfg, rows: dict) -> pd.DataFrame:
    n = len(next(iter(rows.values())))
    raw = pd.DataFrame({"source": ["a"] * n, "record_id": [str(i) for i in range(n)], "line": range(2, n + 2),
                        **rows})
    return normalise_records(raw, cfg.fields, today=cfg.reference_date)[0]


# ---------------------------------------------------------------------------------------------- keys
def test_hkdf_matches_rfc5869_test_case_1():
    okm = hkdf(bytes([0x0B] * 22), bytes(range(0xF0, 0xFA)), 42, salt=bytes(range(13)))
    assert okm.hex() == ("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")


def test_keys_are_derived_separately_per_field_and_purpose():
    keys = {field_key(KEY, f, p) for f in ("nino", "surname", "dob") for p in ("token", "bloom")}
    assert len(keys) == 6 and all(len(k) == 32 for k in keys)


def test_key_id_is_eight_hex_and_reveals_nothing_of_the_key():
    kid = key_id(KEY)
    assert len(kid) == 8 and int(kid, 16) >= 0
    assert kid not in KEY.hex() and kid != key_id(bytes(range(1, 33)))


def test_short_keys_are_refused_without_echoing_them():
    secret = "ab" * 16  # 16 bytes
    with pytest.raises(ConfigError) as exc:
        parse_key(secret, "environment variable PACE_LINKAGE_HMAC_KEY")
    assert secret not in str(exc.value) and "PACE_LINKAGE_HMAC_KEY" in str(exc.value)
    with pytest.raises(ConfigError):
        field_key(b"short", "nino", "token")


def test_key_is_read_from_the_environment_as_hex_or_base64():
    assert load_key(environ={"PACE_LINKAGE_HMAC_KEY": KEY.hex()}) == KEY
    assert load_key(environ={"PACE_LINKAGE_HMAC_KEY": base64.b64encode(KEY).decode()}) == KEY
    with pytest.raises(ConfigError, match="not set"):
        load_key(environ={})


def test_a_config_holding_a_key_is_refused_naming_the_key_not_its_value(tmp_path):
    secret = "0f" * 32
    text = EXAMPLE.read_text().replace("key: {env: PACE_LINKAGE_HMAC_KEY}", f'key: "{secret}"')
    text = text.replace('"../partners/*.yaml"', f'"{ROOT / "config" / "partners"}/*.yaml"')
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert "pseudonymise.key" in str(exc.value) and secret not in str(exc.value)


# -------------------------------------------------------------------------------------------- tokens
def test_nino_spellings_give_equal_64_hex_tokens(cfg):
    recs = _normalised(cfg, {"nino": ["ab 12 34 56 c", "AB123456C", "AB123457C"]})
    tok = pseudonymise_records(recs, cfg, KEY)["nino"]
    assert tok[0] == tok[1] != tok[2]
    assert len(tok[0]) == 64 and int(tok[0], 16) >= 0


def test_tokens_depend_on_the_key_and_the_column_role():
    s = pd.Series(["5"], dtype="string")
    assert hmac_tokens(s, KEY)[0] != hmac_tokens(s, bytes(range(1, 33)))[0]
    assert hmac_tokens(s, KEY, "_day")[0] != hmac_tokens(s, KEY, "_month")[0]


def test_pseudonymised_records_hold_no_plain_identifier(cfg):
    recs = _normalised(cfg, {"nino": ["AB123456C"], "first_name": ["Jane"], "surname": ["McDonald"],
                             "dob": ["1980-03-05"], "postcode": ["G1 1AA"], "sex": ["F"]})
    out = pseudonymise_records(recs, cfg, KEY)
    plain = {str(v) for c in recs.columns if c not in ("source", "record_id", "line", "flags", "sex")
             for v in recs[c].dropna()}
    cells = {str(v) for c in out.columns for v in out[c].dropna()}
    assert plain and not plain & cells
    assert out.loc[0, "sex"] == "F" and {"surname_bf", "dob_swap", "nino_bf"} <= set(out.columns)


def test_day_month_swap_token_meets_the_swapped_date(cfg):
    out = pseudonymise_records(_normalised(cfg, {"dob": ["1980-03-05", "1980-05-03", "1980-03-25"]}), cfg, KEY)
    assert out.loc[0, "dob_swap"] == out.loc[1, "dob"] and out.loc[1, "dob_swap"] == out.loc[0, "dob"]
    assert pd.isna(out.loc[2, "dob_swap"])


def test_pseudonymising_twice_gives_identical_frames(cfg):
    recs = _normalised(cfg, {"surname": ["Smith", "Smyth", None], "dob": ["1980-03-05", None, "1975-12-01"]})
    pd.testing.assert_frame_equal(pseudonymise_records(recs, cfg, KEY), pseudonymise_records(recs, cfg, KEY))


# ----------------------------------------------------------------------------------- plain-hash guard
def test_unkeyed_sha256_of_a_nino_is_reversed_by_enumerating_one_prefix_and_hmac_is_not():
    stems = ["AB123456", "AB000017", "AB999999"]
    plain = {hashlib.sha256(s.encode()).hexdigest() for s in stems}
    keyed = set(hmac_tokens(pd.Series(stems), field_key(KEY, "nino", "token")))
    t0 = time.perf_counter()
    found_plain, found_keyed = [], []
    for i in range(1_000_000):  # every stem of prefix AB: what an attacker without the key can try
        stem = f"AB{i:06d}"
        h = hashlib.sha256(stem.encode()).hexdigest()
        if h in plain:
            found_plain.append(stem)
        if h in keyed:
            found_keyed.append(stem)
    elapsed = time.perf_counter() - t0
    assert sorted(found_plain) == sorted(stems) and found_keyed == []
    assert elapsed < 10


# ------------------------------------------------------------------------------------- Bloom filters
def test_blake_positions_match_clkhash_blakehash():
    # reference: clkhash 0.18.3 bloomfilter.blake_hash_token(b" S", 40, bytes(range(32)), 1024)
    assert blake_positions(" S", KEY, 40, 1024)[:8] == [793, 1008, 249, 827, 900, 1017, 590, 237]


def test_balanced_filters_have_exactly_half_their_bits_set():
    names = pd.Series(["SMITH", "LI", "MACDONALD", None])
    plain = bloom_encode(names, KEY, BloomSpec(bits_per_feature=30), 1024)
    balanced = bloom_encode(names, KEY, BloomSpec(bits_per_feature=30), 1024, Hardening(balance=True))
    folded = bloom_encode(names, KEY, BloomSpec(bits_per_feature=30), 1024, Hardening(xor_fold=True))
    assert 0.03 < bits_set_share(plain) < 0.35 and bits_set_share(balanced) == 0.5
    assert len(base64.b64decode(balanced[0])) == 256 and len(base64.b64decode(folded[0])) == 64
    assert pd.isna(balanced[3])


def _dice_levels(values: list[str], threshold: float, hardening: Hardening) -> np.ndarray:
    bf = bloom_encode(pd.Series(values), KEY, BloomSpec(bits_per_feature=30), 1024, hardening)
    recs = pd.DataFrame({"name": values, "name_bf": bf})
    spec = ComparisonSpec(name="name", column="name",
                          levels=[LevelSpec(type="dice", column="name_bf", threshold=threshold)])
    l_ = np.zeros(len(values) - 1, dtype=np.int64)
    return compare_one(ColumnCache(recs), spec, l_, np.arange(1, len(values), dtype=np.int64))


def test_dice_level_separates_a_typo_from_another_name():
    values = ["CAMPBELL", "CAMPBEL", "CAMPBELL", "ROBERTSON"]
    assert _dice_levels(values, 0.8, Hardening()).tolist() == [0, 0, 1]
    assert _dice_levels(values, 0.9, Hardening(balance=True)).tolist() == [0, 0, 1]


# ------------------------------------------------------------------------------------------- attacks
def test_frequency_attack_reidentifies_frequent_values_of_deterministic_encodings():
    truth = pd.Series(["SMITH"] * 6 + ["BROWN"] * 3 + ["WILSON"])
    public = pd.Series({"Smith": 2300, "Brown": 1500, "Wilson": 1400})
    tokens = hmac_tokens(truth, KEY)
    res = frequency_attack(tokens, truth, public)
    assert res["share"] == 1.0 and res["aligned"] == 3
    bf = bloom_encode(truth, KEY, BloomSpec(bits_per_feature=30), 1024, Hardening(balance=True))
    assert frequency_attack(bf, truth, public)["share"] == 1.0  # hardening does not stop frequency alignment
    assert 0.0 <= pattern_attack(bf, truth, public, top=3, min_support=1)["share"] <= 1.0


# ------------------------------------------------------------------------------------------- quality
def test_pseudonymised_linkage_loses_at_most_one_f1_point(synth_data, cfg):
    from pace_linkage.engine.linker import Linker
    from pace_linkage.evaluate.quality import pairwise_scores
    from pace_linkage.pipeline import read_sources

    records = read_sources(cfg, synth_data / "extracts")
    truth = pd.read_csv(synth_data / "truth.csv", dtype=str)
    person = records[["source", "record_id"]].merge(truth, on=["source", "record_id"], how="left")["person_id"]

    def f1(recs, config) -> float:
        ids = Linker(config.linkage, config.seed).run(recs).clusters.clusters
        ids = recs[["source", "record_id"]].merge(ids, on=["source", "record_id"], how="left")["pace_id"]
        return pairwise_scores(ids, person)["f1"]

    plain = f1(records, load_config(None))
    pseudo = f1(pseudonymise_records(records, cfg, KEY), cfg)
    assert plain > 0.9 and pseudo >= plain - 0.01
