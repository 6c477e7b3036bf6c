"""Outputs: every file the pipeline publishes is written here, atomically and deterministically.

A run writes into a private staging folder inside OUT (mode 0700). Only when every output is complete
does :meth:`RunWriter.publish` move each file into OUT with ``os.replace`` (atomic on one filesystem) and
then write ``manifest.json`` *last*, holding the SHA-256 of every output. A run that fails before
publishing removes its staging folder and leaves the previous run's files untouched. A reader that
finds a file missing from the manifest, or with a different hash, must reject the run
(:func:`verify_manifest`).

Files are created 0600 and folders 0700: outputs are about people. CSVs are written with a fixed
line terminator, sorted rows, and spreadsheet formula prefixes neutralised; JSON with sorted keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from pace_linkage.errors import InputError
from pace_linkage.redact import safe_csv_frame

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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: via a temporary file (0600) in the same folder, fsync, then rename
    into place, so a reader sees the old file or the whole new one, never a part."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_private_csv(path: Path, df: pd.DataFrame, overwrite: bool, what: str) -> Path:
    """A single CSV file holding personal data (a review sheet, a partner's outbound view): formula-
    neutralised, written atomically, created 0600 (new parent folders 0700); an existing file is kept
    unless ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path}: already exists; refusing to overwrite {what} (use --force)")
    if not path.parent.exists():
        make_private_dir(path.parent)
    write_atomic(path, csv_bytes(df))
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def csv_bytes(df: pd.DataFrame) -> bytes:
    return safe_csv_frame(df).to_csv(index=False, lineterminator="\n").encode("utf-8")


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


def parquet_bytes(df: pd.DataFrame) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata(None)  # no pandas metadata: stable bytes across versions
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd", write_statistics=False)
    return sink.getvalue().to_pybytes()


class RunWriter:
    """Stage outputs for one run, then publish them all with the manifest written last."""

    def __init__(self, out_dir: Path, run_id: str | None = None):
        self.out_dir = make_private_dir(Path(out_dir))
        self.run_id = run_id or uuid.uuid4().hex
        self.started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        self.staging = self.out_dir / f".staging-{self.run_id}"
        make_private_dir(self.staging)
        self.files: list[str] = []

    def path(self, name: str) -> Path:
        p = self.staging / name
        make_private_dir(p.parent)
        return p

    def write_bytes(self, name: str, data: bytes) -> Path:
        p = self.path(name)
        write_atomic(p, data)
        if name not in self.files:
            self.files.append(name)
        return p

    def write_csv(self, name: str, df: pd.DataFrame) -> Path:
        return self.write_bytes(name, csv_bytes(df))

    def write_json(self, name: str, obj: Any) -> Path:
        return self.write_bytes(name, json_bytes(obj))

    def write_parquet(self, name: str, df: pd.DataFrame) -> Path:
        return self.write_bytes(name, parquet_bytes(df))

    def write_text(self, name: str, text: str) -> Path:
        return self.write_bytes(name, text.encode("utf-8"))

    def publish(self, extra: dict[str, Any] | None = None) -> Path:
        """Move every staged file into OUT, then write the manifest last.

        Each file a previous run published under the same name is first moved aside into the staging
        folder; if any move fails, :meth:`_roll_back` puts every previous file back and removes the new
        ones, so OUT again holds the complete previous run (whose manifest is only replaced at the end).
        """
        hashes = {}
        for name in sorted(self.files):
            hashes[name] = sha256_file(self.staging / name)
        aside = self.staging / ".previous"
        moved: list[tuple[str, bool]] = []  # (name, had a previous file)
        try:
            for name in sorted(self.files):
                dest = self.out_dir / name
                make_private_dir(dest.parent)
                had_previous = dest.exists()
                if had_previous:
                    make_private_dir((aside / name).parent)
                    os.replace(dest, aside / name)
                moved.append((name, had_previous))
                os.replace(self.staging / name, dest)
        except BaseException:
            self._roll_back(moved, aside)
            raise
        manifest = {
            "run_id": self.run_id,
            "started": self.started,
            "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "files": hashes,
            **(extra or {}),
        }
        write_atomic(self.out_dir / MANIFEST, json_bytes(manifest))
        self.discard()
        return self.out_dir / MANIFEST

    def _roll_back(self, moved: list[tuple[str, bool]], aside: Path) -> None:
        """Undo a partial publish: remove the new files, move the previous ones back (best effort)."""
        for name, had_previous in reversed(moved):
            dest = self.out_dir / name
            try:
                if had_previous and (aside / name).exists():
                    os.replace(aside / name, dest)
                elif not had_previous:
                    dest.unlink(missing_ok=True)
            except OSError:
                pass

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def verify_manifest(out_dir: Path) -> dict:
    """Check that every file the manifest lists exists with its hash; raise InputError otherwise."""
    out_dir = Path(out_dir)
    mpath = out_dir / MANIFEST
    try:
        manifest = json.loads(mpath.read_text())
    except (OSError, ValueError):
        raise InputError(f"{mpath}: missing or unreadable manifest; the run is incomplete") from None
    for name, digest in manifest.get("files", {}).items():
        p = out_dir / name
        if not p.exists():
            raise InputError(f"{mpath}: lists {name}, which is missing")
        if sha256_file(p) != digest:
            raise InputError(f"{mpath}: {name} does not match its SHA-256; the run is incomplete or altered")
    return manifest
