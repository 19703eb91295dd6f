"""One view of every collection's health: ``published/health.html`` (and ``health.json``) beside the
viewer's ``published/index.json``.

Why a static page beside the viewer and not a Dagster asset: the people who ask "is my map up to
date?" are curators, who open the viewer (or the read-only UI) and should not need to read run
logs; a page in the published folder is served by whatever serves the maps, needs no run to
refresh it (the ``collection_health`` sensor rewrites it when a run ends; ``cviz health`` on
demand), and keeps working when the Dagster UI is down. The JSON beside it is for monitoring.

Per collection: the live version and its age, the last run and its result, the failing (ERROR)
and warning (WARN) checks of the last run that evaluated checks, the files the catalogue skipped,
and whether the published map is the latest build. The state says, in words and in colour,
which of these it is:

- ``live``: the last run succeeded and the map it built is the one served;
- ``failed, serving previous map``: the last run failed; readers still get the previous map;
- ``never published``: nothing has ever been published (the last run, if any, says why);
- ``building``: a run is in progress (the served map, if any, is the previous one);
- ``warnings``: live, but a check failed or files were skipped.

This module only reads storage and renders; the Dagster facts (runs, checks) are passed in as
plain dicts by ``cviz_assets/health.py``.
"""

from __future__ import annotations

import html
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from cviz.paths import PUBLISHED, CollectionPaths
from cviz.publish.versions import NOT_VERSIONS, read_pointer
from cviz.storage import Storage

HEALTH_HTML = f"{PUBLISHED}/health.html"
HEALTH_JSON = f"{PUBLISHED}/health.json"
STATES = {  # state: (label, colour)
    "live": ("live", "#1b7f3b"),
    "warnings": ("live, with warnings", "#9a6700"),
    "building": ("building", "#0b5cad"),
    "failed_serving_previous": ("failed, serving previous map", "#b35900"),
    "never_published": ("never published", "#b3261e"),
}


@dataclass
class CollectionHealth:
    """One row of the page. ``last_run``: ``{"run_id", "status", "ended", "job", "error"}`` or None."""

    name: str
    state: str = "never_published"
    live_version: str = ""
    live_since: str = ""
    live_age_s: float | None = None
    newest_version: str = ""
    latest_build_published: bool = False
    last_run: dict[str, Any] | None = None
    failing_checks: list[str] = field(default_factory=list)
    warning_checks: list[str] = field(default_factory=list)
    skipped: int = 0
    skipped_files: list[str] = field(default_factory=list)


def _epoch(stamp: str) -> float | None:
    try:
        return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    except (TypeError, ValueError):
        return None


def storage_facts(storage: Storage, name: str, now: float) -> CollectionHealth:
    """What storage says: the pointer (live version, since when), the newest version folder, and the
    catalogue's skipped files."""
    row = CollectionHealth(name)
    pointer = read_pointer(storage, name)
    paths = CollectionPaths(name)
    row.live_version = str(pointer.get("dzi", "")).split("/", 1)[0]
    row.live_since = str(pointer.get("updated", ""))
    since = _epoch(row.live_since)
    row.live_age_s = round(now - since) if since is not None and row.live_version else None
    versions = [v for v in storage.list(paths.published) if v not in NOT_VERSIONS and not v.startswith(".")
                and not v.endswith(".json")]
    row.newest_version = max(versions) if versions else ""
    try:
        catalogue = storage.read_json(paths.catalogue)
    except (FileNotFoundError, ValueError):
        catalogue = {}
    skipped = catalogue.get("skipped", []) if isinstance(catalogue, dict) else []
    row.skipped = len(skipped)
    row.skipped_files = [f"{s.get('file')} ({s.get('reason')})" for s in skipped[:5]]
    return row


def classify(row: CollectionHealth, in_progress: bool) -> CollectionHealth:
    """Set ``state`` and ``latest_build_published`` from the facts already in ``row``."""
    status = (row.last_run or {}).get("status")
    row.latest_build_published = bool(row.live_version) and row.live_version == row.newest_version \
        and status not in ("FAILURE", "CANCELED")
    if not row.live_version:
        row.state = "building" if in_progress else "never_published"
    elif in_progress:
        row.state = "building"
    elif status in ("FAILURE", "CANCELED"):
        row.state = "failed_serving_previous"
    elif row.failing_checks or row.warning_checks or row.skipped:
        row.state = "warnings"
    else:
        row.state = "live"
    return row


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def _cells(row: CollectionHealth, ui_url: str) -> list[str]:
    e = html.escape
    label, colour = STATES[row.state]
    run = row.last_run or {}
    run_text = e(f"{run.get('status', '').lower()} {run.get('ended', '')}".strip()) or "none"
    if run.get("run_id") and ui_url:
        run_text = f'<a href="{e(ui_url.rstrip("/"))}/runs/{e(run["run_id"])}">{run_text}</a>'
    if run.get("error"):
        run_text += f"<br><small>{e(run['error'][:300])}</small>"
    live = f"{e(row.live_version)}<br><small>{e(row.live_since)} ({e(_age(row.live_age_s))} ago)</small>" \
        if row.live_version else "none"
    return [
        f'<a href="index.html#{e(row.name)}">{e(row.name)}</a>' if row.live_version else e(row.name),
        f'<span class="state" style="background:{colour}">{e(label)}</span>',
        live, run_text,
        "<br>".join(e(c) for c in row.failing_checks) or "none",
        "<br>".join(e(c) for c in row.warning_checks) or "none",
        (f"{row.skipped}<br><small>{e(', '.join(row.skipped_files))}</small>" if row.skipped else "0"),
        "yes" if row.latest_build_published else "no",
    ]


def render_html(rows: list[CollectionHealth], generated: str, ui_url: str = "") -> str:
    """A self-contained page (no script); every value from storage or a run is escaped."""
    head = ["collection", "state", "live version", "last run", "failing checks", "warning checks",
            "skipped files", "latest build published"]
    body = "\n".join("<tr>" + "".join(f"<td>{c}</td>" for c in _cells(r, ui_url)) + "</tr>" for r in rows)
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>cviz: collection health</title>"
        "<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:.4em;vertical-align:top;text-align:left}"
        ".state{color:#fff;padding:.15em .5em;border-radius:.3em;white-space:nowrap}</style>"
        f"<h1>Collection health</h1><p>Generated {html.escape(generated)}. "
        "<em>failed, serving previous map</em>: the last run failed and readers still get the map before it; "
        "<em>never published</em>: there is no map to serve yet.</p>"
        "<table><tr>" + "".join(f"<th>{h}</th>" for h in head) + f"</tr>\n{body}\n</table></html>\n"
    )


def write_health(storage: Storage, rows: list[CollectionHealth], ui_url: str = "") -> dict[str, Any]:
    """Write ``published/health.json`` and ``published/health.html``; returns the JSON document."""
    generated = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    doc = {"format": "cviz-health/1", "generated": generated, "collections": [asdict(r) for r in rows]}
    storage.write_json(HEALTH_JSON, doc)
    storage.write_bytes(HEALTH_HTML, render_html(rows, generated, ui_url).encode("utf-8"))
    return doc
