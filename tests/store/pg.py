"""A throwaway PostgreSQL server on 127.0.0.1 for tests.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system user in a
temporary folder that user owns; as any other user it runs as that user. The superuser is always named
``postgres`` (``initdb -U postgres``), authentication is ``trust`` on loopback only, fsync is off.
Start takes about a second; :meth:`PgServer.stop` removes everything.

``find_pg_bin()`` returns None when no server binaries are installed (install them with
``make postgres``, root only): the tests then skip with that reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def find_pg_bin() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin holding initdb and pg_ctl, else the ones on PATH."""
    cands = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) for x in Path(p).parent.name.split(".")
                                                                           if x.isdigit()])
    for d in reversed(cands):
        if (Path(d) / "initdb").exists() and (Path(d) / "pg_ctl").exists():
            return Path(d)
    initdb = shutil.which("initdb")
    if initdb and shutil.which("pg_ctl"):
        return Path(initdb).parent
    return None


def skip_reason() -> str | None:
    """Why a real server cannot be started here, or None if it can."""
    if find_pg_bin() is None:
        return "PostgreSQL server binaries not found (run `make postgres` as root, or apt-get install postgresql)"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without runuser: cannot start PostgreSQL as the postgres user"
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres system user to run the server as"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    bin: Path
    root: Path
    port: int
    host: str = "127.0.0.1"

    def _cmd(self, *args: str) -> list[str]:
        return (["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []) + list(args)

    def url(self, user: str = "postgres", dbname: str = "postgres") -> str:
        return f"postgresql://{user}@{self.host}:{self.port}/{dbname}"

    def start(self) -> PgServer:
        data = self.root / "data"
        subprocess.run(self._cmd(str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                                 "-E", "UTF8", "--locale=C", "--no-sync"),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.root)
        subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(data), "-l", str(self.root / "server.log"), "-w",
                                 "-o", f"-c listen_addresses={self.host} -p {self.port} -k {self.root} -c fsync=off",
                                 "start"),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=self.root)
        return self

    def stop(self) -> None:
        try:
            subprocess.run(self._cmd(str(self.bin / "pg_ctl"), "-D", str(self.root / "data"), "-m", "fast", "-w", "stop"),
                           check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.root)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def start_postgres() -> PgServer:
    """Start a fresh server (call :meth:`PgServer.stop` when done)."""
    pg_bin = find_pg_bin()
    if pg_bin is None:
        raise RuntimeError(skip_reason() or "no PostgreSQL binaries")
    root = Path(tempfile.mkdtemp(prefix="pace-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    os.chmod(root, 0o700)
    server = PgServer(bin=pg_bin, root=root, port=_free_port())
    try:
        return server.start()
    except BaseException:
        server.stop()
        raise
