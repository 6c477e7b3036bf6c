"""Decoding a partner's text file (csv, JSON lines) strictly in its declared encoding.

- The file is decoded strictly in its declared encoding. A UTF-8 byte-order mark is removed whatever the
  declared encoding (so it never reaches a column name). A byte that does not decode is an
  :class:`InputError` naming the file, the encoding and the byte offset, or, with
  ``on_bad_encoding: quarantine``, quarantines only the lines that do not decode. A file in a single-byte
  encoding that shows the marks of another one (UTF-8 mojibake such as ``Ã©``/``â€™``, or C1 control bytes
  from cp1252 read as latin-1) is refused the same way, or those lines quarantined, rather than silently
  garbled (see :func:`misread_pattern`).
- A byte-order mark (U+FEFF) at the start of any later line is removed too: it is the mark of a file
  concatenated onto another, never part of the row's first cell. Inside a line it is left alone (see
  :func:`pace_linkage.ingest.validate.map_columns` for record ids).
"""

from __future__ import annotations

import codecs
import functools
import re
from pathlib import Path

from pace_linkage.config import SourceConfig
from pace_linkage.errors import InputError
from pace_linkage.ingest.rows import BOM

_ROW_START_BOM = re.compile(f"(?<=[\\r\\n]){BOM}")


def _single_byte(enc: str) -> bool:
    """Whether ``enc`` maps every byte to at most one character on its own (latin-1, cp1252, iso-8859-*)."""
    try:
        return len(bytes(range(256)).decode(enc, errors="replace")) == 256 and b"az09,".decode(enc) == "az09,"
    except (LookupError, UnicodeError, ValueError):
        return False


_SURROGATE_FREE = {"ascii", "utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le",
                   "utf-32-be"}


@functools.cache
def may_hold_surrogates(encoding: str) -> bool:
    """Whether text strictly decoded from ``encoding`` can hold a lone surrogate (U+D800-U+DFFF): never from
    UTF-8, UTF-16, UTF-32 or a single-byte encoding; possibly from others (UTF-7 decodes ``+2AA-`` to one)."""
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        return True
    return not (name in _SURROGATE_FREE or _single_byte(name))


def _chars(enc: str, lo: int, hi: int) -> str:
    """The characters bytes ``lo``..``hi`` stand for, each read alone in ``enc`` (those that decode to one)."""
    out = []
    for b in range(lo, hi + 1):
        try:
            c = bytes([b]).decode(enc)
        except UnicodeDecodeError:
            continue
        if len(c) == 1:
            out.append(c)
    return "".join(out)


@functools.cache
def misread_pattern(enc: str) -> re.Pattern | None:
    """Characters that betray a file decoded in the wrong single-byte encoding ``enc``, or None.

    Two signs, both almost never seen in real text of that encoding:

    * a C1 control character (U+0080-U+009F): a latin-1 reading of cp1252 punctuation (``’`` is 0x92) or
      of UTF-8 continuation bytes;
    * the ``enc`` reading of a UTF-8 multi-byte sequence (mojibake): a lead byte (0xC2-0xF4) followed by
      its continuation bytes (0x80-0xBF), e.g. ``Ã©`` for ``é``, ``Å›`` for ``ś``, ``â€™`` for ``’``.
      After a lead other than ``Â``/``Ã``, the first continuation must be a symbol (``€ ’ › ¼`` ...), not
      a letter or a no-break space: ``ÍŠ`` and ``É`` + no-break space are plausible upper-case text in
      cp1252, ``Ã©`` and ``Ã`` + no-break space (``à``) are not.

    Multi-byte encodings (UTF-8, UTF-16, Shift-JIS ...) get no pattern: they fail to decode instead.
    """
    if not _single_byte(enc):
        return None

    def chars(lo: int, hi: int) -> str:
        return _chars(enc, lo, hi)

    def cls(cs: str) -> str:
        return f"[{re.escape(cs)}]" if cs else "(?!)"  # (?!) never matches

    cont = chars(0x80, 0xBF)
    symbols = "".join(c for c in cont if not c.isalpha() and c != "\u00a0")
    alts = [
        "[\u0080-\u009f]",
        cls(chars(0xC2, 0xC3)) + cls(cont),
        cls(chars(0xC4, 0xDF)) + cls(symbols),
        cls(chars(0xE0, 0xEF)) + cls(symbols) + cls(cont),
        cls(chars(0xF0, 0xF4)) + cls(symbols) + cls(cont) + "{2}",
    ]
    return re.compile(f"(?={misread_start(enc).pattern})(?:{'|'.join(alts)})")


@functools.cache
def misread_start(enc: str) -> re.Pattern:
    """The characters a match of :func:`misread_pattern` starts with (a C1 control or a UTF-8 lead byte read as
    ``enc``): where none is found, the pattern finds nothing. A look-ahead on them makes the pattern twice as
    fast, and one search for them alone is three times faster again."""
    return re.compile("[\u0080-\u009f" + re.escape(_chars(enc, 0xC2, 0xF4)) + "]")


_UTF8_C1 = re.compile(b"\xc2[\x80-\x9f]")  # U+0080-U+009F in UTF-8: the only start a UTF-8 reading has


def may_be_misread(text: str, data: bytes, enc: str, whole: bool) -> bool:
    """Whether :func:`misread_pattern` can find anything in ``text``, decoded from ``data`` in ``enc`` (``whole``:
    strictly, every line): only where :func:`misread_start` finds a character. In UTF-8 text, decoded whole,
    the only such characters are the C1 controls, encoded as ``C2 80``-``C2 9F`` (``C2`` is always a lead
    byte there): the bytes are searched instead, without reading the wide text."""
    if whole and codecs.lookup(enc).name in ("utf-8", "utf-8-sig"):
        return _UTF8_C1.search(data) is not None
    return misread_start(enc).search(text) is not None


def decode(src: SourceConfig, path: Path, data: bytes) -> tuple[str, list[int]]:
    """Decode strictly; returns text and the 1-based lines that could not be decoded (quarantine mode).

    A file in a single-byte encoding is also checked for signs that it is really in another one (see
    :func:`misread_pattern`): a one-line :class:`InputError` naming file, line, byte and encoding, or,
    with ``on_bad_encoding: quarantine``, those lines quarantined as ``bad_encoding``.
    """
    enc = src.encoding.lower().replace("_", "-")
    skip = 0  # bytes removed from the start (BOM), so offsets are in the file as it is on disk
    if data.startswith(b"\xef\xbb\xbf"):
        data, skip = data[3:], 3
        if enc in ("utf-8", "utf8"):
            enc = "utf-8"
        elif enc not in ("utf-8-sig",):
            raise InputError(f"{path}: byte 0: file starts with a UTF-8 byte-order mark but is declared {src.encoding}")
    quarantine = src.on_bad_encoding == "quarantine"
    bad: list[int] = []
    whole = True  # every byte decoded strictly
    try:
        text = data.decode(enc)
    except LookupError:
        raise InputError(f"{path}: encoding '{src.encoding}' is not a known codec (source '{src.name}')") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        if not quarantine:
            raise InputError(
                f"{path}: line {line}, byte {exc.start + skip}: not valid {src.encoding} (declare the file's real encoding)"
            ) from None
        parts, whole = [], False
        for i, raw in enumerate(data.split(b"\n"), start=1):
            try:
                parts.append(raw.decode(enc))
            except UnicodeDecodeError:
                bad.append(i)
                parts.append(raw.decode(enc, errors="replace"))
        text = "\n".join(parts)
    pattern = misread_pattern(enc)
    if pattern is not None and not text.isascii() and may_be_misread(text, data, enc, whole):
        line, pos = 1, 0
        for m in pattern.finditer(text):
            line += text.count("\n", pos, m.start())
            pos = m.start()
            if not quarantine:
                where = f"{path}: line {line}, byte {m.start() + skip}"
                if len(m.group()) == 1:
                    raise InputError(f"{where}: a control byte, not text, in {src.encoding}; "
                                     "declare the file's real encoding (cp1252 or utf-8?)")
                raise InputError(f"{where}: UTF-8 text read as {src.encoding} (mojibake); declare encoding utf-8")
            bad.append(line)
    return text, sorted(set(bad))


def read_text(src: SourceConfig, path: Path) -> tuple[str, list[int]]:
    """The file's text, decoded as :func:`decode` says, and the 1-based lines that could not be decoded."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None
    text, bad = decode(src, path, data)
    if BOM in text:
        text = _ROW_START_BOM.sub("", text)
    return text, bad

