"""Prefect settings for offline, private runs. Import this before anything imports prefect.

- Telemetry off (DO_NOT_TRACK, analytics disabled): the default path makes no network call beyond loopback.
- The local ephemeral API (no server to start) gets a generous start-up timeout: a cold start takes ~12 s.
- Task results are not persisted by default: most of them are frames of personal data.
Values already set in the environment win, so an analyst can point at a real server with PREFECT_API_URL.
"""

from __future__ import annotations

import os

OFFLINE_DEFAULTS = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    "PREFECT_TASKS_REFRESH_CACHE": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}


def apply_offline_defaults() -> None:
    for key, value in OFFLINE_DEFAULTS.items():
        os.environ.setdefault(key, value)


apply_offline_defaults()
