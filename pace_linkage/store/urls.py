"""Store locations: a DuckDB file path or ``duckdb://`` URL, or a ``postgresql://`` URL -- and no password in it.

The store URL is a flow parameter, and Prefect records flow parameters in its database, so a URL never carries a
secret. libpq (which psycopg hands the URL to) takes a password from the user info (``user:secret@host``) and from
query parameters, whose names and values it percent-decodes (``?pass%77ord=secret`` is ``password=secret``).
So a ``postgresql://`` URL is read the way libpq reads it and refused if:

* its user info holds a ``:`` (a password, even an empty one);
* a query parameter, percent-decoded and case-folded, is not one of :data:`PG_PARAMETERS`: connection settings
  that carry no secret. Refused among libpq's own: ``password``; ``passfile`` and ``service``/``servicefile`` (they
  name a file a password is read from: a run's credentials come from the environment -- ``PGPASSWORD``,
  ``PGPASSFILE``, ``PGSERVICE``, ``~/.pgpass`` -- never from a recorded parameter); ``sslpassword`` (the
  client key's passphrase); the OAuth and SCRAM secrets; ``sslkeylogfile`` (writes TLS secrets to a file);
  ``replication``. Any other name is refused too (unknown to libpq, or new to it and not yet judged);
* its database name holds ``=`` (a connection string in disguise, which some clients expand).

A location that is neither is a DuckDB file path; one that starts like a libpq ``key=value`` connection string
(``host=... password=...``) is refused rather than taken for a file name.
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit, urlunsplit

from pace_linkage.errors import ConfigError

# libpq connection parameters a store URL may set: none of them is or loads a secret
PG_PARAMETERS = frozenset({
    "host", "hostaddr", "port", "dbname", "user", "connect_timeout", "client_encoding", "options",
    "application_name", "fallback_application_name", "keepalives", "keepalives_idle", "keepalives_interval",
    "keepalives_count", "tcp_user_timeout", "target_session_attrs", "load_balance_hosts", "require_auth",
    "channel_binding", "gssencmode", "gsslib", "gssdelegation", "krbsrvname", "requirepeer", "sslmode",
    "sslnegotiation", "sslcompression", "sslcert", "sslkey", "sslcertmode", "sslrootcert", "sslcrl", "sslcrldir",
    "sslsni", "ssl_min_protocol_version", "ssl_max_protocol_version", "min_protocol_version",
    "max_protocol_version",
})
# refused with the password message: each is a password, or names where one is read from
PG_SECRETS = frozenset({"password", "passfile", "service", "servicefile", "sslpassword", "oauth_client_secret",
                        "scram_client_key", "scram_server_key"})
_NO_PASSWORD = ("--store: a password in the URL is refused ({what}): the URL is recorded with the run's "
                "parameters; use PGPASSWORD, PGPASSFILE or ~/.pgpass")


def _check_postgres(text: str) -> None:
    """Refuse a ``postgresql://`` URL that carries (or names where to read) a password: see the module."""
    rest = text.split("://", 1)[1]
    authority = rest.split("/", 1)[0]  # libpq looks for the user info before the first '/'
    if "@" in authority and ":" in authority.rpartition("@")[0]:
        raise ConfigError(_NO_PASSWORD.format(what="after the user name"))
    try:
        parts = urlsplit(text)
        has_password = parts.password is not None
    except ValueError:
        raise ConfigError("--store: not a valid postgresql:// URL") from None
    if has_password:
        raise ConfigError(_NO_PASSWORD.format(what="after the user name"))
    if "=" in unquote(parts.path):
        raise ConfigError("--store: the database name holds '=' (connection settings belong in the query)")
    query = rest.split("?", 1)[1] if "?" in rest else ""
    for i, item in enumerate(p for p in query.split("&") if p):
        name = unquote(item.split("=", 1)[0]).strip().casefold()
        if name in PG_SECRETS:
            raise ConfigError(_NO_PASSWORD.format(what=f"query parameter {i + 1} sets one or names where to read one"))
        if name not in PG_PARAMETERS:
            raise ConfigError(f"--store: query parameter {i + 1} is not an allowed connection setting "
                              f"(allowed: sslmode, connect_timeout, application_name, options, ... "
                              f"see pace_linkage.store.urls)")


def parse_url(url: str | os.PathLike) -> tuple[str, str]:
    """``("duckdb", path)`` or ``("postgresql", conninfo)``. Anything else with a scheme is refused, and so is a
    PostgreSQL URL carrying a password in any spelling (see the module)."""
    text = str(url).strip()
    if not text:
        raise ConfigError("--store: empty store location")
    if "\x00" in text:
        raise ConfigError("--store: the location holds a NUL character")
    low = text.lower()
    if low.startswith(("postgresql://", "postgres://")):
        _check_postgres(text)
        return "postgresql", text
    if low.startswith("duckdb://"):
        path = text[len("duckdb://"):]
        if not path:
            raise ConfigError("--store: duckdb:// needs a file path (duckdb:///abs/path.duckdb)")
        return "duckdb", path
    if re.match(r"\w+\s*=", text):
        raise ConfigError("--store: a key=value connection string is not a store location: use a "
                          "postgresql:// URL (no password in it) or a DuckDB file path")
    m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", text)
    if m:
        raise ConfigError(f"--store: unsupported scheme '{m.group(1)}' (use a path, duckdb:///path or postgresql://)")
    return "duckdb", text


def describe(url: str | os.PathLike) -> str:
    """The store location for messages: a PostgreSQL URL without its user's password or its query."""
    kind, target = parse_url(url)
    if kind == "duckdb":
        return f"duckdb:{target}"
    parts = urlsplit(target)
    user, _, hosts = parts.netloc.rpartition("@")
    user = user.split(":", 1)[0]
    return urlunsplit((parts.scheme, (f"{user}@" if user else "") + hosts, parts.path, "", ""))
