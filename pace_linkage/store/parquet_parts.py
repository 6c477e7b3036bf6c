"""A Parquet file's row groups encoded side by side, joined into the file one writer makes, byte for byte.

Arrow encodes a row group's columns on one core, and at millions of pairs that is most of the time spent
writing ``pairs.parquet``. Every row group is encoded on its own (a column chunk carries its pages, its
dictionary and no reference to another row group), so each can be written as a one-row-group file in a thread
of its own (Arrow encodes without holding the GIL), and the files joined: the magic ``PAR1``, each file's row
group bytes in order, then the first file's footer with every row group listed, its file positions moved by
where its bytes now start, its ordinal numbered, and the row count summed. The footer is Thrift's compact
encoding (``parquet.thrift``'s ``FileMetaData``), read and written back here field by field in the order it
came, so a footer read and written unchanged is the same bytes (checked on every file before it is used).
"""

from __future__ import annotations

import struct
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MAGIC = b"PAR1"
STOP, TRUE, FALSE, BYTE, I16, I32, I64, DOUBLE, BINARY, LIST, SET, MAP, STRUCT = range(13)

# field ids in parquet.thrift: FileMetaData, RowGroup, ColumnChunk, ColumnMetaData
NUM_ROWS, ROW_GROUPS = 3, 4
RG_COLUMNS, RG_FILE_OFFSET, RG_ORDINAL = 1, 5, 7
CC_FILE_OFFSET, CC_META, CC_OFFSET_INDEX, CC_COLUMN_INDEX = 2, 3, 4, 6
CM_POSITIONS = (9, 10, 11, 14)  # data, index and dictionary page offsets, bloom filter offset


class ThriftError(ValueError):
    """A footer this module does not read (a map, a set, a truncated field)."""


# --------------------------------------------------------------------------------------------------
# Thrift compact encoding: a struct is a list of [field id, type, value] in the order read
# --------------------------------------------------------------------------------------------------
class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise ThriftError("footer ends inside a field")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def value(self, ttype: int) -> Any:
        if ttype in (TRUE, FALSE):
            return None  # the field's type is its value
        if ttype == BYTE:
            return self.byte()
        if ttype in (I16, I32, I64):
            return self.zigzag()
        if ttype == DOUBLE:
            self.pos += 8
            return self.data[self.pos - 8:self.pos]
        if ttype == BINARY:
            n = self.varint()
            self.pos += n
            return self.data[self.pos - n:self.pos]
        if ttype == LIST:
            head = self.byte()
            size, etype = head >> 4, head & 0x0F
            if size == 15:
                size = self.varint()
            if etype in (TRUE, FALSE):
                raise ThriftError("a list of booleans")
            return [etype, [self.value(etype) for _ in range(size)]]
        if ttype == STRUCT:
            return self.struct()
        raise ThriftError(f"thrift type {ttype}")

    def struct(self) -> list:
        fields, last = [], 0
        while (head := self.byte()) != STOP:
            delta, ttype = head >> 4, head & 0x0F
            fid = last + delta if delta else self.zigzag()
            fields.append([fid, ttype, self.value(ttype)])
            last = fid
        return fields


def _varint(out: bytearray, n: int) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _zigzag(out: bytearray, n: int) -> None:
    _varint(out, (n << 1) ^ (n >> 63))


def _value(out: bytearray, ttype: int, value: Any) -> None:
    if ttype in (TRUE, FALSE):
        return
    if ttype == BYTE:
        out.append(value)
    elif ttype in (I16, I32, I64):
        _zigzag(out, value)
    elif ttype == DOUBLE:
        out += value
    elif ttype == BINARY:
        _varint(out, len(value))
        out += value
    elif ttype == LIST:
        etype, items = value
        if len(items) < 15:
            out.append(len(items) << 4 | etype)
        else:
            out.append(0xF0 | etype)
            _varint(out, len(items))
        for item in items:
            _value(out, etype, item)
    else:  # STRUCT
        _struct(out, value)


def _struct(out: bytearray, fields: list) -> None:
    last = 0
    for fid, ttype, value in fields:
        if 0 < fid - last <= 15:
            out.append((fid - last) << 4 | ttype)
        else:
            out.append(ttype)
            _zigzag(out, fid)
        _value(out, ttype, value)
        last = fid
    out.append(STOP)


def decode(footer: bytes) -> list:
    return _Reader(footer).struct()


def encode(fields: list) -> bytes:
    out = bytearray()
    _struct(out, fields)
    return bytes(out)


# --------------------------------------------------------------------------------------------------
# One-row-group files joined
# --------------------------------------------------------------------------------------------------
def _field(fields: list, fid: int) -> list | None:
    return next((f for f in fields if f[0] == fid), None)


def split(part: bytes) -> tuple[bytes, list]:
    """A Parquet file's bytes -> (its row group bytes, its decoded footer); the footer must encode back to the
    same bytes."""
    if part[:4] != MAGIC or part[-4:] != MAGIC:
        raise ThriftError("not a Parquet file")
    size = struct.unpack("<I", part[-8:-4])[0]
    footer = part[-8 - size:-8]
    meta = decode(footer)
    if encode(meta) != footer:
        raise ThriftError("footer does not read back as written")
    return part[4:-8 - size], meta


def _moved(row_group: list, shift: int, ordinal: int) -> list:
    """A row group's footer entry with its file positions moved by ``shift`` and its ordinal set."""
    for fid, _, value in row_group:
        if fid == RG_COLUMNS:
            for chunk in value[1]:
                for cfid, _, cvalue in chunk:
                    if cfid == CC_META:
                        for mfield in cvalue:
                            if mfield[0] in CM_POSITIONS:
                                mfield[2] += shift
            for chunk in value[1]:
                for cfield in chunk:
                    if cfield[0] in (CC_OFFSET_INDEX, CC_COLUMN_INDEX) or (cfield[0] == CC_FILE_OFFSET and cfield[2]):
                        cfield[2] += shift
    for rfield in row_group:
        if rfield[0] == RG_FILE_OFFSET:
            rfield[2] += shift
        elif rfield[0] == RG_ORDINAL:
            rfield[2] = ordinal
    return row_group


def join(write: Callable[[bytes], Any], parts: Iterable[bytes]) -> None:
    """Write the Parquet file whose row groups are those of ``parts`` (Parquet files of one schema, in order)
    through ``write``: the file a single writer makes of the same row groups. Parts of another schema are a
    ValueError, as a writer refuses a table of another schema."""
    write(MAGIC)
    at, meta, groups, rows = len(MAGIC), None, [], 0
    for part in parts:
        body, part_meta = split(part)
        if meta is not None and _schema(part_meta) != _schema(meta):
            raise ValueError("join: a part's schema differs from the first part's")
        for group in _field(part_meta, ROW_GROUPS)[2][1]:
            groups.append(_moved(group, at - len(MAGIC), len(groups)))
        rows += _field(part_meta, NUM_ROWS)[2]
        meta = meta or part_meta
        write(body)
        at += len(body)
    if meta is None:
        raise ValueError("join: no part")
    _field(meta, NUM_ROWS)[2] = rows
    _field(meta, ROW_GROUPS)[2] = [STRUCT, groups]
    footer = encode(meta)
    write(footer + struct.pack("<I", len(footer)) + MAGIC)


def _schema(meta: list) -> bytes:
    return encode([f for f in meta if f[0] not in (NUM_ROWS, ROW_GROUPS)])


def encoded_side_by_side(make: Iterable[Callable[[], bytes]], workers: int) -> Iterable[bytes]:
    """The results of ``make`` (callables each returning one part's bytes), in order, at most ``workers``
    computed at once in threads: a part is held only until it is written."""
    with ThreadPoolExecutor(workers, thread_name_prefix="parquet-part") as pool:
        pending: deque = deque()
        for fn in make:
            pending.append(pool.submit(fn))
            if len(pending) >= workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


__all__ = ["ThriftError", "decode", "encode", "encoded_side_by_side", "join", "split"]
