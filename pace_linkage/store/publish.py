"""Publishing a staged run into OUT, so that OUT holds exactly one complete run whatever stops a run and whatever
else runs beside it (:class:`pace_linkage.store.outputs.RunWriter` drives it; the decision record is
``docs/adr/0005-atomic-publish-manifest-last.md``).

The protocol, in the order a run follows it:

1. **claim**: the run creates ``OUT/.staging-<run id>/`` (0700) and holds an exclusive ``flock`` on that folder
   for as long as it lives. The kernel releases the lock when the process ends, ``kill -9`` included, so a
   staging folder whose lock is free belongs to no live run. A second live run with the same run id is refused.
2. **stage**: every output is written into the staging folder.
3. **seal**: ``.intent.json`` records the run id, a random attempt token, the SHA-256 of every staged file, the
   manifest's other entries and the store the run writes to (None without ``--store``). A sealed folder is a
   complete run.
4. **store** (with ``--store``): the run is written to the store in one transaction, the attempt token in its
   metadata. The store's commit is the run's commit point.
5. **publish** (:func:`publish_staged`): under the OUT lock (a ``flock`` on OUT itself, so publishes into one
   folder never interleave) each staged file replaces its namesake (the previous one moved aside into the staging
   folder), the files the previous run wrote that this one does not are moved aside (:func:`stale_files`), then
   ``manifest.json`` is written last and the staging folder removed. A failure on the way puts everything back.

Recovery (:func:`recover`, at the start of the next run into OUT): a staging folder whose lock is free belongs to a
run that died. If it is sealed and its run is committed (no store, or the store holds its run id with the same
attempt token), it is published now: every step of 5 can be repeated, so a publish cut short by a kill is
finished. If its run is not in the store, or it was never sealed, it is removed. If its store cannot be asked, it
is left for a later run. After a successful publish every staging folder whose lock is free is removed
(:func:`tidy`): staged files are personal data.

What a previous run leaves that the new one does not write is removed on publish, so OUT holds exactly one run:
the files its manifest lists (with the SHA-256 it records: a file changed since is the user's and is kept), and a
follow-up command's folder with a manifest of its own kind (``tune/``, from ``pace-linkage tune``). A file no run
wrote is never touched, and only a run of the same kind (the manifest's ``kind``: a linkage run's has none) replaces
the previous one, so ``tune --out RUN`` cannot remove the run it tuned. Locks need a filesystem with ``flock`` (any local one); where it is missing, runs still
publish atomically but a stale staging folder is left in place rather than risk removing a live one.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from pace_linkage.errors import InputError, PaceError
from pace_linkage.store.files import (
    DIR_MODE,
    MANIFEST,
    fsync_dir,
    json_bytes,
    make_private_dir,
    now_utc,
    read_json,
    sha256_file,
    write_atomic,
)

STAGING_PREFIX = ".staging-"
INTENT = ".intent.json"
ASIDE = ".previous"
STALE = ".stale"
FOLLOW_UPS = ("tune",)
RUN_KIND = "run"  # a manifest's ``kind`` when it names none: a linkage run's  # folders a follow-up command writes into OUT, each with a manifest of that kind
_STAGING_NAME = re.compile(r"\.staging-[A-Za-z0-9][A-Za-z0-9_.-]*")


class PublishError(PaceError):
    """Moving a staged run into OUT failed; OUT still holds the previous run."""

    exit_code = 8


# --------------------------------------------------------------------------------------------------
# Locks
# --------------------------------------------------------------------------------------------------
def _flock(fd: int, wait: bool) -> bool | None:
    """Lock ``fd`` exclusively: True, False if another holds it, None if the filesystem has no flock."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        return None
    return True


def _open_dir(path: Path, follow: bool = False) -> int:
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | (0 if follow else os.O_NOFOLLOW))


@contextlib.contextmanager
def out_lock(out_dir: Path) -> Iterator[None]:
    """Hold the OUT lock (waits for a publish into the same folder to finish)."""
    fd = _open_dir(Path(out_dir), follow=True)
    try:
        _flock(fd, wait=True)
        yield
    finally:
        os.close(fd)


def _take_if_free(staging: Path) -> int | None:
    """An fd holding ``staging`` 's lock if no live run holds it (None: in use, or locks unsupported)."""
    try:
        fd = _open_dir(staging)
    except OSError:
        return None
    if _flock(fd, wait=False):
        return fd
    os.close(fd)
    return None


def staging_dirs(out_dir: Path) -> list[Path]:
    """The staging folders in OUT: real folders named ``.staging-<run id>`` (never a symlink, never another name)."""
    try:
        entries = sorted(Path(out_dir).iterdir())
    except OSError:
        return []
    return [p for p in entries if _STAGING_NAME.fullmatch(p.name) and ".." not in p.name
            and not p.is_symlink() and p.is_dir()]


def claim(out_dir: Path, run_id: str) -> tuple[Path, int | None]:
    """Create (or take over from a dead run) ``OUT/.staging-<run_id>`` and lock it for this run. Returns the
    folder and the fd holding its lock (None where the filesystem has no flock)."""
    staging = Path(out_dir) / f"{STAGING_PREFIX}{run_id}"
    if not _STAGING_NAME.fullmatch(staging.name) or ".." in str(run_id):
        raise InputError("run id: use letters, digits, '.', '_' and '-' only, starting with a letter or digit "
                         "(it names a folder inside OUT)")
    with out_lock(out_dir):
        if staging.is_symlink() or (staging.exists() and not staging.is_dir()):
            raise InputError(f"{staging}: exists and is not a staging folder; remove it and run again")
        fresh = not staging.exists()
        if fresh:
            staging.mkdir(mode=DIR_MODE)
            os.chmod(staging, DIR_MODE)
        fd = _open_dir(staging)
        got = _flock(fd, wait=False)
        if got is False:
            os.close(fd)
            raise InputError(f"{out_dir}: another run with run id {run_id} is writing into this folder; "
                             "give each run its own run id")
        if not fresh:  # a dead run's leftovers under the same run id
            for child in staging.iterdir():
                _remove(child)
    if not got:  # no flock on this filesystem: the run goes on unlocked
        os.close(fd)
        return staging, None
    return staging, fd


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


# --------------------------------------------------------------------------------------------------
# Sealing and publishing
# --------------------------------------------------------------------------------------------------
def seal(staging: Path, intent: dict) -> None:
    """Record that the staged run is complete (see the module docstring, step 3)."""
    write_atomic(Path(staging) / INTENT, json_bytes(intent))
    fsync_dir(Path(staging))


def read_intent(staging: Path) -> dict | None:
    intent = read_json(Path(staging) / INTENT)
    if not intent or not isinstance(intent.get("files"), dict) or not intent.get("run_id"):
        return None
    return intent


def publish_staged(out_dir: Path, staging: Path, intent: dict, extra: dict | None = None) -> Path:
    """Move the sealed run in ``staging`` into ``out_dir``, the previous run's leftovers out, the manifest last.
    Idempotent: a publish cut short (by a kill) is finished by calling it again. Returns the manifest's path."""
    with out_lock(out_dir):
        return _roll_forward(Path(out_dir), Path(staging), intent, extra)


def _already_published(out_dir: Path, staging: Path, intent: dict, previous: dict | None) -> bool:
    files = intent["files"]
    return bool(previous) and previous.get("run_id") == intent["run_id"] and previous.get("files") == files \
        and not any((staging / name).exists() for name in files)


def _roll_forward(out_dir: Path, staging: Path, intent: dict, extra: dict | None) -> Path:
    files: dict[str, str] = intent["files"]
    previous = read_json(out_dir / MANIFEST)
    if _already_published(out_dir, staging, intent, previous):  # died after the manifest: only the tidying is left
        _remove(staging)
        return out_dir / MANIFEST
    kind = {**(intent.get("extra") or {}), **(extra or {})}.get("kind", RUN_KIND)
    stale = stale_files(out_dir, previous, set(files), kind)
    moved: list[tuple[str, bool]] = []
    set_aside: list[str] = []
    try:
        for name in sorted(files):
            src, dest = staging / name, out_dir / name
            if src.is_file():
                make_private_dir(dest.parent)
                had = dest.exists() or dest.is_symlink()
                if had:
                    make_private_dir((staging / ASIDE / name).parent)
                    os.replace(dest, staging / ASIDE / name)
                moved.append((name, had))
                os.replace(src, dest)
            elif not (dest.is_file() and sha256_file(dest) == files[name]):
                raise InputError(f"{staging}: {name} is neither staged nor published; the staged run cannot be "
                                 "completed (remove the folder)")
        for name in stale:
            make_private_dir((staging / STALE / name).parent)
            os.replace(out_dir / name, staging / STALE / name)
            set_aside.append(name)
        manifest = {"run_id": intent["run_id"], "started": intent.get("started"), "finished": now_utc(),
                    "files": dict(sorted(files.items())), **(intent.get("extra") or {}), **(extra or {})}
        write_atomic(out_dir / MANIFEST, json_bytes(manifest))
    except BaseException:
        _roll_back(out_dir, staging, moved, set_aside)
        raise
    fsync_dir(out_dir)
    _prune_empty(out_dir, stale)
    _remove(staging)
    return out_dir / MANIFEST


def _roll_back(out_dir: Path, staging: Path, moved: list[tuple[str, bool]], set_aside: list[str]) -> None:
    """Undo a publish that failed half-way: the previous run's files back into OUT, this run's back into its
    staging folder (complete again, so a later publish can still finish it). Best effort."""
    for name in reversed(set_aside):
        with contextlib.suppress(OSError):
            os.replace(staging / STALE / name, out_dir / name)
    for name, had in reversed(moved):
        with contextlib.suppress(OSError):
            os.replace(out_dir / name, staging / name)
        if had:
            with contextlib.suppress(OSError):
                os.replace(staging / ASIDE / name, out_dir / name)


# --------------------------------------------------------------------------------------------------
# What a previous run left
# --------------------------------------------------------------------------------------------------
def _inside(out_dir: Path, name: str) -> Path | None:
    """``out_dir / name`` for a plain relative name a run may have written (no ``..``, no absolute path, no
    hidden part, no symlink on the way), else None."""
    parts = PurePosixPath(str(name)).parts
    if not parts or PurePosixPath(str(name)).is_absolute() or any(p in ("", ".", "..") or p.startswith(".")
                                                                   for p in parts):
        return None
    path = out_dir.joinpath(*parts)
    walk = out_dir
    for p in parts:
        walk = walk / p
        if walk.is_symlink():
            return None
    return path if path.is_file() else None


def _written_files(out_dir: Path, manifest: dict, keep: set[str], prefix: str = "") -> list[str]:
    """The files ``manifest`` lists, other than ``keep``, that are still as the run wrote them (same SHA-256)."""
    out = []
    for name, digest in sorted((manifest.get("files") or {}).items()):
        full = f"{prefix}{name}"
        if full in keep:
            continue
        path = _inside(out_dir, full)
        if path is not None and isinstance(digest, str) and sha256_file(path) == digest:
            out.append(full)
    return out


def stale_files(out_dir: Path, previous: dict | None, keep: set[str], kind: str = RUN_KIND) -> list[str]:
    """What the previous run (and its follow-up commands) wrote into OUT that the new run, writing ``keep``, does
    not: the previous manifest's files, and each follow-up folder (``tune/``) with a manifest of its kind. Only
    files whose SHA-256 is the one recorded: a file changed since, or one no run wrote, is never listed. Only a
    run of the same ``kind`` as the previous one replaces it (a manifest without one is a linkage run's): a
    follow-up command pointed at a run's folder (``tune --out RUN``) never removes the run."""
    out_dir = Path(out_dir)
    if previous and previous.get("kind", RUN_KIND) != kind:
        return []
    names = set(_written_files(out_dir, previous, keep)) if previous else set()
    for folder in FOLLOW_UPS if kind == RUN_KIND else ():
        sub = read_json(out_dir / folder / MANIFEST)
        if sub and sub.get("kind") == folder and _inside(out_dir, f"{folder}/{MANIFEST}") is not None:
            names |= set(_written_files(out_dir, sub, keep, f"{folder}/")) | {f"{folder}/{MANIFEST}"}
    return sorted(names - set(keep) - {MANIFEST})


def _prune_empty(out_dir: Path, names: list[str]) -> None:
    """Remove the folders that held only ``names`` (never OUT itself)."""
    for name in names:
        parent = (out_dir / name).parent
        while parent != out_dir and out_dir in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break
            parent = parent.parent


# --------------------------------------------------------------------------------------------------
# Dead runs' staging folders
# --------------------------------------------------------------------------------------------------
def tidy(out_dir: Path) -> list[str]:
    """Remove every staging folder in OUT that no live run holds (a killed run's). Returns their names."""
    removed = []
    if not Path(out_dir).is_dir():
        return removed
    with out_lock(out_dir):
        for staging in staging_dirs(out_dir):
            fd = _take_if_free(staging)
            if fd is None:
                continue
            try:
                _remove(staging)
                removed.append(staging.name)
            finally:
                os.close(fd)
    return removed


def recover(out_dir: Path, committed: Callable[[dict], bool | None]) -> list[str]:
    """Finish or remove what dead runs left in OUT (see the module docstring). ``committed(intent)`` says whether
    a sealed run's store holds it (True), does not (False) or cannot be asked (None). Returns one value-free line
    per staged run published or left in place."""
    out_dir = Path(out_dir)
    notes: list[str] = []
    if not out_dir.is_dir():
        return notes
    for staging in staging_dirs(out_dir):
        with out_lock(out_dir):
            fd = _take_if_free(staging)
        if fd is None:
            continue
        try:
            notes += _recover_one(out_dir, staging, committed)
        finally:
            os.close(fd)
    return notes


def _recover_one(out_dir: Path, staging: Path, committed: Callable[[dict], bool | None]) -> list[str]:
    intent = read_intent(staging)
    try:
        verdict = committed(intent) if intent else False
    except (PaceError, OSError):
        verdict = None
    if verdict is None:
        return [f"{staging}: a stopped run ({intent['run_id']}) whose store cannot be asked now; left for a later "
                "run to finish or remove"]
    if not verdict:
        with out_lock(out_dir):
            _remove(staging)
        return []
    try:
        publish_staged(out_dir, staging, intent)
    except (PaceError, OSError) as exc:
        return [f"{staging}: a stopped run ({intent['run_id']}) could not be published ({type(exc).__name__})"]
    return [f"{out_dir}: published run {intent['run_id']}, which a stopped run had completed"
            + (" and stored" if intent.get("store") else "")]


__all__ = ["ASIDE", "FOLLOW_UPS", "INTENT", "PublishError", "RUN_KIND", "STAGING_PREFIX", "claim", "out_lock", "publish_staged",
           "read_intent", "recover", "seal", "stale_files", "staging_dirs", "tidy"]
