"""``cviz watchdog``: alerts when the daemon goes silent, the instance database is unreachable or the
webserver stops answering, from outside the processes it watches.

Why a separate command: the alert sensors run inside the daemon, so a dead daemon (or a database
the daemon cannot reach) cannot report itself; ``dagster-daemon liveness-check`` tolerates 30
minutes without a heartbeat (Dagster's ``DEFAULT_DAEMON_HEARTBEAT_TOLERANCE_SECONDS``). The
watchdog reads the instance at ``$DAGSTER_HOME`` (the daemon writes a heartbeat per daemon thread
every 30 s) and sends one alert per problem when it appears (``daemon_silent``,
``database_unreachable``, ``webserver_unreachable``) and one ``recovered`` alert when it clears,
through cviz's alert sinks (the JSON-lines file and the webhook, cviz.stages.alerts). What it has
already reported is kept in ``$DAGSTER_HOME/cviz-watchdog.json``, so a problem is alerted once, not
once a minute. ``--every S`` checks for ever (the systemd unit and the compose service); without it,
one check whose exit status is 1 when something is wrong (a cron job or a container health check).
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import Any

from cviz.errors import CvizError
from cviz.stages import alerts

DAEMON_TOLERANCE_S = 90.0  # three of the daemon's 30 s heartbeats missed
STATE_FILE = "cviz-watchdog.json"


def _dagster_home() -> str:
    home = os.environ.get("DAGSTER_HOME", "").strip()
    if not home or not os.path.isdir(home):
        raise CvizError(f"cviz watchdog needs DAGSTER_HOME, an existing folder holding dagster.yaml (got {home!r})")
    return home


def instance_findings(home: str, now: float, tolerance_s: float) -> dict[str, str]:
    """``{kind: error}`` for the database (can the instance be read?) and the daemon's heartbeats."""
    import dagster as dg

    try:
        with dg.DagsterInstance.from_config(home) as instance:
            required = list(instance.get_required_daemon_types())
            beats = instance.get_daemon_heartbeats()
    except Exception as exc:  # any driver error: connection refused, auth, timeout
        text = " ".join(str(exc).split())[:400]
        return {"database_unreachable": f"the Dagster instance database (DAGSTER_HOME={home}) cannot be read: "
                                        f"{type(exc).__name__}: {text}"}
    silent = []
    for daemon in required:
        beat = beats.get(daemon)
        age = now - beat.timestamp if beat is not None else None
        if age is None or age > tolerance_s:
            silent.append(f"{daemon} ({'never' if age is None else f'{age:.0f} s ago'})")
    if silent:
        return {"daemon_silent": f"no daemon heartbeat within {tolerance_s:.0f} s: {', '.join(silent)}; "
                                 "is dagster-daemon running (systemctl status cviz-daemon)?"}
    return {}


def webserver_finding(url: str | None, timeout_s: float = 5.0) -> dict[str, str]:
    """``{"webserver_unreachable": error}`` unless ``<url>/server_info`` answers within ``timeout_s``."""
    if not url:
        return {}
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/server_info", timeout=timeout_s) as resp:
            resp.read(65536)
        return {}
    except Exception as exc:
        return {"webserver_unreachable": f"{url} did not answer in {timeout_s:.0f} s: {type(exc).__name__}: {exc}"}


def _alert(kind: str, error: str, **extra: Any) -> None:
    from cviz.settings import settings
    from cviz_resources import StorageResource

    storage = StorageResource(root=settings().storage_root, endpoint_url=settings().s3_endpoint_url)
    alerts.send(alerts.alerts_path(storage.get().url()), alerts.alert_record(kind, None, error, **extra),
                storage.storage_options)


def check_and_alert(home: str, webserver_url: str | None = None, tolerance_s: float = DAEMON_TOLERANCE_S,
                    now: float | None = None) -> dict[str, str]:
    """One check; alerts the problems that are new since the last check and those that cleared.
    Returns the problems found now (``{}``: healthy)."""
    now = time.time() if now is None else now
    found = {**instance_findings(home, now, tolerance_s), **webserver_finding(webserver_url)}
    state_path = Path(home) / STATE_FILE
    try:
        before = json.loads(state_path.read_text())
    except (FileNotFoundError, ValueError):
        before = {}
    for kind, error in found.items():
        if kind not in before:
            _alert(kind, error, source="cviz watchdog")
    for kind in before:
        if kind not in found:
            _alert("recovered", f"{kind.replace('_', ' ')} cleared", recovered=kind, source="cviz watchdog")
    state_path.write_text(json.dumps(found, sort_keys=True))
    return found


def main(every: float | None, webserver_url: str | None, tolerance_s: float, alert: bool = True) -> int:
    """``cviz watchdog``: once (exit 1 on a problem), or every ``every`` seconds for ever. ``alert=False``
    (``--check-only``): the exit status only, no alert and no state (a container health check)."""
    home = _dagster_home()
    while True:
        if alert:
            found = check_and_alert(home, webserver_url, tolerance_s)
        else:
            found = {**instance_findings(home, time.time(), tolerance_s), **webserver_finding(webserver_url)}
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        print(f"{stamp} cviz watchdog: " + ("; ".join(f"{k}: {v}" for k, v in found.items()) or "healthy"), flush=True)
        if not every:
            return 1 if found else 0
        time.sleep(every)
