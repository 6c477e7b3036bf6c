"""The file primitives every output goes through: private folders (0700), atomic private files (0600), hashes
and the JSON form of manifests. :mod:`pace_linkage.store.outputs` (the writers) and
:mod:`pace_linkage.store.publish` (staged runs moved into OUT) build on them."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

FILE_MODE = 0o600
DIR_MODE = 0o700
MANIFEST = "manifest.json"


def make_private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents 0700 (``mkdir(parents=True)`` would leave new parents 0755)."""
    path = Path(path)
    missing = []
    p = path
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True, mode=DIR_MODE)
        os.chmod(d, DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def fsync_dir(path: Path) -> None:
    """Make the renames inside folder ``path`` durable (best effort: some filesystems refuse a folder fsync)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: via a temporary file (0600) in the same folder, fsync, then rename
    into place, so a reader sees the old file or the whole new one, never a part."""
    write_atomic_with(path, lambda fh: fh.write(data))


def write_atomic_with(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """:func:`write_atomic` of what ``write(fh)`` writes into the open temporary file, piece by piece (a large
    output is then never held whole in memory)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default) + "\n").encode()


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    if isinstance(o, (dt.date, dt.datetime)):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: Path) -> dict | None:
    """A JSON object from ``path``, or None if it is missing, unreadable or not an object."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def now_utc() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


__all__ = ["DIR_MODE", "FILE_MODE", "MANIFEST", "fsync_dir", "json_bytes", "make_private_dir", "now_utc",
           "read_json", "sha256_file", "write_atomic"]
