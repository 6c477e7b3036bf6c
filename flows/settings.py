"""Prefect settings for offline, private runs. Import this before anything imports prefect.

- Telemetry off (DO_NOT_TRACK, analytics disabled): the default path makes no network call beyond loopback.
- The local ephemeral API (no server to start) gets a generous start-up timeout: a cold start takes ~12 s.
- Task results are not persisted by default: most of them are frames of personal data.
- The local Prefect API a command starts is shared with the commands after it and stops once unused for
  ``PACE_LINKAGE_API_IDLE_MINUTES`` minutes (default 10; 0 gives every command a server of its own, stopped with
  it): see :mod:`flows.apiserver`.
Values already set in the environment win, so an analyst can point at a real server with PREFECT_API_URL.
"""

from __future__ import annotations

import math
import os

from pace_linkage.errors import ConfigError

OFFLINE_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    "PREFECT_TASKS_REFRESH_CACHE": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}


API_IDLE_ENV = "PACE_LINKAGE_API_IDLE_MINUTES"
API_IDLE_MINUTES = 10.0  # a shared local API unused this long stops (0: a server per command)
API_IDLE_MAX = 24 * 60.0


def api_idle_seconds() -> float:
    """Seconds an unused shared local API lives on (0: every command starts and stops its own)."""
    raw = os.environ.get(API_IDLE_ENV, "").strip()
    try:
        minutes = float(raw) if raw else API_IDLE_MINUTES
    except ValueError:
        minutes = math.nan
    if not 0 <= minutes <= API_IDLE_MAX:  # NaN fails too
        raise ConfigError(f"{API_IDLE_ENV}: expected minutes from 0 to {API_IDLE_MAX:g} (0: a server per command)")
    return minutes * 60.0


def apply_offline_defaults() -> None:
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)


apply_offline_defaults()
