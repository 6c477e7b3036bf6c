"""The mojibake scan of a decoded file is skipped only where it cannot find anything: decoding gives the same
text, bad lines and errors with the shortcut as with the full scan of every file."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pace_linkage.config import SourceConfig
from pace_linkage.errors import InputError
from pace_linkage.ingest import decode as dec

ENCODINGS = ["utf-8", "utf-8-sig", "cp1252", "latin-1", "iso-8859-15"]
# ASCII, accented letters, UTF-8 mojibake pieces, C1 controls, symbols, line ends
CHARS = st.sampled_from(list("ab ,\n\r1") + ["é", "Ã", "©", "â", "€", "™", "\u0085", "\u0092", "\u009f", "Â",
                                            "\u00a0", "ś", "’", "\ufeff", "ð", "Ÿ"])


def outcome(source: SourceConfig, data: bytes, full: bool, monkeypatch):
    with monkeypatch.context() as m:
        if full:  # every file scanned, as before the shortcut
            m.setattr(dec, "may_be_misread", lambda *a: True)
        try:
            return dec.decode(source, Path("p.csv"), data)
        except InputError as exc:
            return str(exc)


@settings(max_examples=300, deadline=None)
@given(enc=st.sampled_from(ENCODINGS), text=st.lists(CHARS, max_size=30).map("".join),
       mode=st.sampled_from(["fail", "quarantine"]), junk=st.sampled_from([b"", b"\xff", b"\xc2"]))
def test_decoding_is_the_full_scans(enc, text, mode, junk):
    monkeypatch = pytest.MonkeyPatch()
    data = text.encode(enc, errors="ignore") + junk
    source = SourceConfig(name="p", file="p.csv", record_id="id", columns={"surname": "surname"}, encoding=enc,
                          on_bad_encoding=mode)
    assert outcome(source, data, False, monkeypatch) == outcome(source, data, True, monkeypatch)


@settings(max_examples=300, deadline=None)
@given(enc=st.sampled_from(ENCODINGS), text=st.lists(CHARS, max_size=30).map("".join))
def test_the_shortcut_says_yes_wherever_the_pattern_finds_something(enc, text):
    data = text.encode(enc, errors="ignore")
    decoded = data.decode(enc)
    found = dec.misread_pattern(enc).search(decoded) is not None
    maybe = dec.may_be_misread(decoded, data, enc, True)
    assert maybe or not found
    if enc.startswith("utf-8"):  # from the bytes: exactly where a C1 control is
        assert maybe == any("\u0080" <= c <= "\u009f" for c in decoded)
