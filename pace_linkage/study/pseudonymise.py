"""Pseudonymised linkage: keyed HMAC tokens and Bloom-filter (CLK-style) encodings.

What a partner applies to its NORMALISED records before the extract leaves it
(:func:`pseudonymise_records`); the central pipeline then links on tokens and encodings only.

**Key.** One master key of >= 32 bytes, from the environment (``PACE_LINKAGE_HMAC_KEY`` or the variable a
config names, hex or base64) or a Prefect Secret block that the flow resolves; the library only ever takes the
key bytes. A config that contains key material is refused (:class:`~pace_linkage.config.PseudonymiseSettings`
rejects a literal ``key``). Per field (or per ``key_groups`` group, when two fields must be comparable with
each other, e.g. first name and surname swapped) two keys are derived with HKDF-SHA-256 (RFC 5869, hashlib and
hmac only): one for tokens, one for the Bloom filters. :func:`key_id` (the first 8 hex of an HMAC of a fixed
label under the key) goes in the run manifest so runs can be matched to a key; the key itself is written
nowhere, and no function here logs or raises with a key or a field value.

**Tokens.** Every column a field produces (``surname``, ``surname_canon``, ``surname_sound``, ``dob_year``,
``postcode_sector``, ...) is replaced by ``HMAC-SHA-256(field key, role + US + value)`` as 64 hex characters
(256 bits, so >= 64 bits are kept). ``role`` is the column suffix, so a day and a month of 5 do not share a
token. Tokens are computed on the normalised value, so ``"ab 12 34 56 c"`` and ``"AB123456C"`` (both stem
``AB123456``) give the same token, and exact comparisons, term-frequency adjustment and blocking work on
tokens unchanged. Date fields also get ``<field>_swap``: the token of the date with day and month crossed
(null when that is no date), so the ``swapped`` level finds day/month swaps.

**No unkeyed mode.** An unkeyed hash of a NINO is reversed by enumeration: one prefix has 10^6 stems, and
hashing them all takes about a second (tests/study/test_pseudonymise.py shows it). The same search finds nothing
against HMAC tokens without the key, so every token here is keyed and there is no option to turn that off.

**Bloom filters.** Fields listed under ``pseudonymise.bloom`` also get ``<field>_bf``: an ``l``-bit filter
(default 1024) as base64 text. Features are the value's q-grams with a space of padding each side (clkhash's
tokenizer; bigrams by default) and optionally position-tagged characters (for fixed-layout values). Each
feature sets ``bits_per_feature`` positions taken from keyed BLAKE2b exactly as clkhash's ``blakeHash``
(``blake2b(feature, key=field bloom key, salt=str(i))`` read as 32 little-endian uint16 per call, each mod
``l``): independent positions, not the double-hashing scheme that Kroll & Christen showed exploitable.
Filters are built once per distinct value and compared with the ``dice`` level (compare.py).

**Hardening** (``pseudonymise.hardening``): ``balance`` appends the complement and permutes the ``2l`` bits
by a keyed permutation (every filter then has exactly half its bits set, so the fill no longer leaks the
value's length); ``xor_fold`` XORs the two halves (halves the length, breaks the bit-to-q-gram mapping that
pattern-mining attacks rebuild). Both are deterministic, so identical values still give identical filters:
hardening does not protect against frequency alignment of whole encodings (nor does anything protect
deterministic tokens from it). :func:`frequency_attack` and :func:`pattern_attack` measure both risks.
Known attacks to state in the report: pattern mining re-identified up to 20.7% of records of unhardened
filters on North Carolina voter data (Christen et al.); frequency alignment applies to any deterministic
token or filter of a field with a skewed public distribution (surnames).

**Why not clkhash / anonlink.** clkhash 0.18.3 pins ``cryptography<41`` (the project locks 50.0.2, which
Prefect's stack uses) and encodes record by record in Python with a ``bitarray`` per record; anonlink 0.15.3
imports ``pkg_resources``, absent from this environment. The encoding here is a small numpy implementation
of the same blakeHash construction, built per distinct value, and the Dice comparison is a vectorised
popcount over uint64 words.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from collections.abc import Mapping

import numpy as np
import pandas as pd

from pace_linkage import schema
from pace_linkage.config import BloomSpec, FieldSpec, Hardening, KeySource, PaceConfig, PseudonymiseSettings
from pace_linkage.errors import ConfigError
from pace_linkage.features import Feature
from pace_linkage.normalise.records import field_columns
from pace_linkage.study.pseudonymise_report import PSEUDONYMISATION

KEY_ENV = "PACE_LINKAGE_HMAC_KEY"
MIN_KEY_BYTES = 32
HKDF_SALT = b"pace-linkage/pseudonymise/v1"
_KEY_ID_LABEL = b"pace-linkage key id v1"
_SEP = "\x1f"
_PASSTHROUGH = (schema.SOURCE, schema.RECORD_ID, schema.LINE, schema.FLAGS)


# --------------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------------
def parse_key(text: str, where: str) -> bytes:
    """Key bytes from hex or base64 text; ConfigError naming ``where`` (never the text) if it is not >= 32 bytes."""
    text = text.strip()
    key: bytes | None = None
    if len(text) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in text):
        key = bytes.fromhex(text)
    else:
        try:
            key = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            key = None
    if key is None:
        raise ConfigError(f"{where}: the pseudonymisation key is neither hex nor base64")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"{where}: the pseudonymisation key has {len(key)} bytes; at least {MIN_KEY_BYTES} needed")
    return key


def load_key(source: KeySource | None = None, environ: Mapping[str, str] | None = None) -> bytes:
    """The master key from the environment variable ``source.env`` (default ``PACE_LINKAGE_HMAC_KEY``).
    A Secret block is resolved by the flow, which then passes the bytes to :func:`pseudonymise_records`."""
    environ = os.environ if environ is None else environ
    if source is not None and source.secret_block is not None:
        raise ConfigError(f"pseudonymise.key.secret_block: '{source.secret_block}' is resolved by the flow, "
                          "not by the library; pass the key bytes")
    name = source.env if source is not None and source.env else KEY_ENV
    text = environ.get(name)
    if not text:
        raise ConfigError(f"environment variable {name}: not set (the pseudonymisation key)")
    return parse_key(text, f"environment variable {name}")


def _check_key(key: bytes) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) < MIN_KEY_BYTES:
        raise ConfigError(f"pseudonymise: the key must be at least {MIN_KEY_BYTES} bytes")


def hkdf(key: bytes, info: bytes, length: int = 32, salt: bytes = HKDF_SALT) -> bytes:
    """HKDF-SHA-256 (RFC 5869): extract with ``salt``, expand with ``info`` to ``length`` bytes."""
    if length > 255 * 32:
        raise ValueError("hkdf: length too large")
    prk = hmac.new(salt, key, hashlib.sha256).digest()
    out, block, i = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([i]), hashlib.sha256).digest()
        out += block
        i += 1
    return out[:length]


def field_key(key: bytes, group: str, purpose: str) -> bytes:
    """The derived key of one field (or key group) for one purpose (``token`` or ``bloom``)."""
    _check_key(key)
    return hkdf(bytes(key), f"pace-linkage/{purpose}/{group}".encode())


def key_id(key: bytes) -> str:
    """Identifies the key in a manifest without revealing it: 8 hex of HMAC-SHA-256(key, fixed label)."""
    _check_key(key)
    return hmac.new(bytes(key), _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:8]


# --------------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------------
def _distinct(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """(code per row, -1 for null; distinct values as text) -- so work is done once per distinct value."""
    text = values.astype("string")
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    return codes, [str(u) for u in uniques]


def _by_code(codes: np.ndarray, per_unique: list, index: pd.Index) -> pd.Series:
    table = np.asarray(list(per_unique) + [None], dtype=object)
    return pd.Series(pd.array(table[codes], dtype="string"), index=index)


def hmac_tokens(values: pd.Series, key: bytes, role: str = "") -> pd.Series:
    """``HMAC-SHA-256(key, role + US + value)`` as 64 hex per non-null value (nulls stay null)."""
    codes, uniques = _distinct(values)
    toks = [hmac.new(key, (role + _SEP + u).encode("utf-8"), hashlib.sha256).hexdigest() for u in uniques]
    return _by_code(codes, toks, values.index)


def _swapped_dates(iso: pd.Series) -> pd.Series:
    """``YYYY-DD-MM`` for ISO dates whose day can be a month (else null)."""
    s = iso.astype("string")
    ok = s.str.fullmatch(r"\d{4}-\d{2}-\d{2}").fillna(False) & (s.str.slice(8, 10) <= "12").fillna(False)
    swapped = s.str.slice(0, 5) + s.str.slice(8, 10) + "-" + s.str.slice(5, 7)
    return swapped.where(ok, pd.NA)


# --------------------------------------------------------------------------------------------------
# Bloom filters
# --------------------------------------------------------------------------------------------------
def features(value: str, spec: BloomSpec) -> list[str]:
    """The features a value sets: q-grams of the value padded with one space each side (clkhash style),
    plus ``p<i>:<char>`` per position when ``spec.positional``. Duplicates are kept once, in order."""
    q = spec.ngram
    padded = f" {value} " if q > 1 else value
    feats = [padded[i:i + q] for i in range(max(len(padded) - q + 1, 1))]
    if spec.positional:
        feats += [f"p{i}:{c}" for i, c in enumerate(value)]
    return list(dict.fromkeys(feats))


def blake_positions(feature: str, key: bytes, k: int, length: int) -> list[int]:
    """clkhash's blakeHash: ``k`` positions from keyed BLAKE2b of the feature (32 uint16 per call)."""
    shorts: list[int] = []
    for i in range((k + 31) // 32):
        digest = hashlib.blake2b(feature.encode("utf-8"), key=key[:64], salt=str(i).encode()).digest()
        shorts.extend(struct.unpack("<32H", digest))
    return [s % length for s in shorts[:k]]


def _keyed_permutation(key: bytes, n: int) -> np.ndarray:
    """A permutation of 0..n-1 fixed by the key alone (sort of keyed hashes: same on every machine)."""
    ranks = [hashlib.blake2b(i.to_bytes(4, "big"), key=key[:64], digest_size=8, person=b"pace-perm").digest()
             for i in range(n)]
    return np.asarray(sorted(range(n), key=ranks.__getitem__), dtype=np.int64)


def bloom_bits(values: list[str], key: bytes, spec: BloomSpec, length: int, hardening: Hardening) -> np.ndarray:
    """Bool matrix (len(values) x encoded length) of the hardened filters of distinct ``values``."""
    feats = [features(v, spec) for v in values]
    vocab = {f: i for i, f in enumerate(dict.fromkeys(f for fs in feats for f in fs))}
    table = np.asarray([blake_positions(f, key, spec.bits_per_feature, length) for f in vocab], dtype=np.int64)
    table = table.reshape(len(vocab), spec.bits_per_feature)
    fid = np.fromiter((vocab[f] for fs in feats for f in fs), dtype=np.int64)
    row = np.repeat(np.arange(len(values)), [len(fs) for fs in feats])
    bits = np.zeros((len(values), length), dtype=bool)
    bits[np.repeat(row, spec.bits_per_feature), table[fid].ravel()] = True
    if hardening.balance:
        bits = np.concatenate([bits, ~bits], axis=1)[:, _keyed_permutation(hkdf(key, b"balance"), 2 * length)]
    if hardening.xor_fold:
        half = bits.shape[1] // 2
        bits = bits[:, :half] ^ bits[:, half:]
    return bits


def bloom_encode(values: pd.Series, key: bytes, spec: BloomSpec, length: int = 1024,
                 hardening: Hardening | None = None) -> pd.Series:
    """Base64 Bloom filter per non-null value (nulls stay null); computed once per distinct value."""
    codes, uniques = _distinct(values)
    bits = bloom_bits(uniques, key, spec, length, hardening or Hardening())
    packed = np.packbits(bits, axis=1) if len(uniques) else np.zeros((0, 1), np.uint8)
    enc = [base64.b64encode(r.tobytes()).decode("ascii") for r in packed]
    return _by_code(codes, enc, values.index)


def decode_filters(encoded: pd.Series) -> np.ndarray:
    """uint8 bit matrix (rows x bits) of base64 filters; null rows are all zero."""
    s = encoded.astype("string")
    ok = s.notna().to_numpy()
    raw = [base64.b64decode(v) for v in s[ok]]
    width = len(raw[0]) if raw else 0
    out = np.zeros((len(s), width * 8), dtype=np.uint8)
    if raw:
        out[ok] = np.unpackbits(np.frombuffer(b"".join(raw), np.uint8).reshape(len(raw), width), axis=1)
    return out


def bits_set_share(encoded: pd.Series) -> float:
    """Mean share of bits set over the non-null filters of a column (the target is about 0.5)."""
    bits = decode_filters(encoded.dropna())
    return float(bits.mean()) if bits.size else 0.0


# --------------------------------------------------------------------------------------------------
# The partner-side transformation
# --------------------------------------------------------------------------------------------------
def _groups(settings: PseudonymiseSettings) -> dict[str, str]:
    return {f: g for g, fs in sorted(settings.key_groups.items()) for f in fs}


def pseudonymise_records(records: pd.DataFrame, cfg: PaceConfig, key: bytes) -> pd.DataFrame:
    """Replace every identifier of normalised ``records`` by keyed tokens and add Bloom filters.

    ``cfg.pseudonymise`` says which fields get filters and which stay plain; ``key`` is the master key
    (>= 32 bytes). Output columns: source, record_id, line, flags (unchanged, when present); per field, its
    columns as tokens in the same names (``keep_plain`` fields unchanged), ``<date field>_swap``, and
    ``<field>_bf`` for ``bloom`` fields. The plain identifier values appear in no output column.
    """
    settings = cfg.pseudonymise
    if settings is None:
        raise ConfigError(f"{cfg.config_file or 'config'}: pseudonymise: section missing")
    _check_key(key)
    key = bytes(key)
    groups = _groups(settings)
    out: dict[str, pd.Series] = {c: records[c] for c in _PASSTHROUGH if c in records.columns}
    index = records.index
    for field, fspec in cfg.fields.items():
        cols = field_columns(field, fspec.kind)
        present = {c: (records[c] if c in records.columns else pd.Series(pd.NA, index=index, dtype="string"))
                   for c in cols}
        if field in settings.keep_plain:
            out.update(present)
            continue
        tkey = field_key(key, groups.get(field, field), "token")
        for c in cols:
            out[c] = hmac_tokens(present[c], tkey, role=c[len(field):])
        if fspec.kind in ("dob", "date"):
            out[field + "_swap"] = hmac_tokens(_swapped_dates(present[field]), tkey, role="")
        if field in settings.bloom:
            bkey = field_key(key, groups.get(field, field), "bloom")
            out[field + "_bf"] = bloom_encode(present[field], bkey, settings.bloom[field],
                                              settings.bloom_length, settings.hardening)
    return pd.DataFrame(out, index=index)


# --------------------------------------------------------------------------------------------------
# Attacks (test runs: how much an attacker without the key re-identifies)
# --------------------------------------------------------------------------------------------------
def _ranked(values: pd.Series) -> pd.Series:
    """Value counts, most frequent first, ties by value (deterministic)."""
    counts = values.dropna().astype(str).value_counts()
    order = np.lexsort((counts.index.to_numpy(dtype=str), -counts.to_numpy()))
    return counts.iloc[order]


def _public_ranked(public: pd.Series) -> pd.Series:
    """A public frequency list (value -> count), upper-cased and ranked like :func:`_ranked`."""
    pub = public.groupby(public.index.astype(str).str.upper()).sum()
    order = np.lexsort((pub.index.to_numpy(dtype=str), -pub.to_numpy()))
    return pub.iloc[order]


def frequency_attack(encoded: pd.Series, truth: pd.Series, public: pd.Series, top: int | None = None) -> dict:
    """Frequency alignment: the attacker ranks the distinct encodings (tokens or Bloom filters) by how often
    they occur and gives the i-th most frequent the i-th most frequent value of a public frequency list
    (``public``: value -> count). ``truth`` (the plain values, aligned with ``encoded``) only scores it.
    Returns counts and ``share``: the share of non-null records whose value is guessed right."""
    ok = encoded.notna().to_numpy() & truth.notna().to_numpy()
    enc, tru = encoded[ok].astype(str), truth[ok].astype(str).str.upper()
    ranked, pub = _ranked(enc), _public_ranked(public)
    n = min(len(ranked), len(pub), top or len(ranked))
    guess = dict(zip(ranked.index[:n], pub.index[:n], strict=True))
    right = int((enc.map(guess) == tru).sum())
    return {"attack": "frequency_alignment", "records": int(ok.sum()), "aligned": n,
            "reidentified": right, "share": right / max(int(ok.sum()), 1)}


def pattern_attack(encoded: pd.Series, truth: pd.Series, public: pd.Series, ngram: int = 2, top: int = 100,
                   min_support: int = 2, max_background: float = 0.5) -> dict:
    """A simple pattern-mining attack on Bloom filters (after Christen et al. 2017): 1) frequency-align the
    ``top`` most frequent filters with the public list; 2) for each q-gram seen in >= ``min_support`` aligned
    names, learn its positions: bits set in every aligned filter whose name has the q-gram and in at most
    ``max_background`` of the others; 3) give every distinct filter the public name whose learned positions
    it covers best (ties: more positions, then more frequent). Returns the share re-identified (scored with
    ``truth``). Step 2 is only as good as the alignment of step 1: on a flat frequency list it learns little
    and re-identifies about what alignment alone does."""
    ok = encoded.notna().to_numpy() & truth.notna().to_numpy()
    enc, tru = encoded[ok].astype(str), truth[ok].astype(str).str.upper()
    ranked, pub = _ranked(enc), _public_ranked(public)
    distinct = ranked.index.to_numpy(dtype=object)
    bits = decode_filters(pd.Series(distinct, dtype="string")).astype(np.float32)
    n = min(len(distinct), len(pub), top)
    spec = BloomSpec(bits_per_feature=1, ngram=ngram)
    names = list(pub.index)
    name_feats = [set(features(v, spec)) for v in names]
    vocab = sorted(set().union(*name_feats[:n])) if n else []
    has = np.array([[g in name_feats[i] for i in range(n)] for g in vocab], dtype=bool).reshape(len(vocab), n)
    aligned = bits[:n]
    learned: dict[str, np.ndarray] = {}
    for g, rows in zip(vocab, has, strict=True):
        if rows.sum() < min_support or (~rows).sum() == 0:
            continue
        in_all = aligned[rows].min(axis=0) > 0
        background = aligned[~rows].mean(axis=0)
        pos = in_all & (background <= max_background)
        if pos.any():
            learned[g] = pos
    width = bits.shape[1]
    pred = np.zeros((len(names), width), dtype=np.float32)
    for i, fs in enumerate(name_feats):
        for g in fs & learned.keys():
            pred[i] = np.maximum(pred[i], learned[g])
    size = pred.sum(axis=1)
    cover = bits @ pred.T  # learned positions of each name that each filter has
    score = np.where(size > 0, cover / np.maximum(size, 1), -1.0)
    # best name: highest coverage, then most learned positions, then the public rank (lowest index)
    key = score * 1e6 + size[None, :] - np.arange(len(names))[None, :] * 1e-6
    best = np.asarray(names, dtype=object)[np.argmax(key, axis=1)] if len(names) else np.array([], object)
    guess = dict(zip(distinct, best, strict=True))
    right = int((enc.map(guess) == tru).sum())
    return {"attack": "pattern_mining", "records": int(ok.sum()), "aligned": n, "qgrams_learned": len(learned),
            "reidentified": right, "share": right / max(int(ok.sum()), 1)}


def pseudonymised_fields(fields: Mapping[str, FieldSpec], settings: PseudonymiseSettings) -> list[str]:
    """The fields whose values are replaced by tokens (every field not in ``keep_plain``)."""
    return [f for f in fields if f not in settings.keep_plain]


# --------------------------------------------------------------------------------------------------
# What the report says about the encoding (aggregates only)
# --------------------------------------------------------------------------------------------------
KNOWN_ATTACKS = [
    "Frequency alignment: any deterministic token or filter of a field with a skewed public distribution "
    "(surnames, first names) can be matched to a public frequency list; hardening does not prevent it.",
    "Pattern mining (Christen et al. 2017): re-identified up to 20.7% of records from unhardened Bloom filters "
    "on North Carolina voter data by learning which bit positions each q-gram sets.",
    "Dictionary attack on tokens: defeated by the keyed HMAC as long as the key stays secret (an unkeyed hash "
    "of a NINO is reversed by enumerating 10^6 stems per prefix).",
]


def encoding_summary(records: pd.DataFrame, settings: PseudonymiseSettings, key_id_: str | None = None) -> dict:
    """The encoding as the report states it: key id (never the key), filter length and hash, hardening on,
    per Bloom field ``bits_per_feature`` and the measured share of bits set, and the known attacks."""
    fields = {}
    for field, spec in sorted(settings.bloom.items()):
        col = field + "_bf"
        enc = records[col] if col in records.columns else pd.Series(dtype="string")
        fields[field] = {"bits_per_feature": spec.bits_per_feature, "ngram": spec.ngram,
                         "positional": spec.positional, "filters": int(enc.notna().sum()),
                         "bits_set_share": round(bits_set_share(enc), 4)}
    return {"key_id": key_id_, "token": "HMAC-SHA-256, per-field HKDF keys, 64 hex",
            "bloom_length": settings.bloom_length, "hash": settings.hash,
            "hardening": {"balance": settings.hardening.balance, "xor_fold": settings.hardening.xor_fold},
            "keep_plain": list(settings.keep_plain), "bloom_fields": fields, "known_attacks": KNOWN_ATTACKS}


class Pseudonymisation(Feature):
    """A pseudonymised run's metrics (``pseudonymisation``: :func:`encoding_summary`) and its report section.
    The encoding itself is a stage of the flow, run at the partner's side of the line."""

    name = "pseudonymise"
    sections = (PSEUDONYMISATION,)

    def metrics(self, run, truth) -> dict:
        ps = run.cfg.pseudonymise
        return {} if ps is None else {"pseudonymisation": encoding_summary(run.records, ps, run.key_id)}


PSEUDONYMISATION_FEATURE = Pseudonymisation()
