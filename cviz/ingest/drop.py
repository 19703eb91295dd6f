"""The drop folder: ``<drop root>/<collection>/`` holding images (and optionally ``metadata.csv`` and
``collection.json``), or only a ``collection.json`` naming a IIIF manifest or the image-URL column of
its ``metadata.csv`` (cviz.ingest.drop_folder.drop_config), is a collection. This module decides, scan by scan, which folders have
changed and settled, so the Dagster sensor only turns its decisions into runs.

Why it is shaped like this:
- A folder is *settled* when its fingerprint (every file's relative path, size and mtime, plus the
  content of ``metadata.csv`` and ``collection.json``) has not changed for ``quiet_seconds`` of
  wall-clock time as seen by the scanner, AND no file's mtime is younger than that. The first rule
  catches copies that preserve old mtimes (``rsync -a``, ``cp -p``); the second catches a copy that
  started just before the first scan.
- Work is requested once per fingerprint; the run key also carries a per-collection generation
  number, so going back to an earlier content (add an image, then remove it) is new work, while a
  sensor that re-evaluates the same state never repeats itself (Dagster de-duplicates run keys).
- Scans are incremental: a tick scans at most ``max_folders`` collection folders (and stops early
  when ``time_budget`` seconds are spent), pending and new folders first, then the others round
  robin; the cursor (compact JSON) remembers per-collection state between ticks.
- A bad folder (invalid name, unreadable file, invalid config or CSV) is reported and skipped; the
  others go on. Removing a folder only forgets it here: published outputs are never touched.

Everything goes through fsspec (``cviz.storage.filesystem_for``), so the drop root can be
``s3://bucket/prefix/drop`` as well as a local folder.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from cviz.errors import CvizError
from cviz.ingest.collection import CollectionConfig
from cviz.ingest.drop_folder import FolderScan, drop_config, list_collection_folders, scan_folder
from cviz.settings import Settings
from cviz.storage import filesystem_for

DEFAULT_QUIET_SECONDS = Settings.drop_quiet_seconds  # $CVIZ_DROP_QUIET_SECONDS (60) when the sensor runs
DEFAULT_MAX_FOLDERS = Settings.drop_max_folders  # $CVIZ_DROP_MAX_FOLDERS (200)
DEFAULT_TIME_BUDGET = 20.0  # seconds of scanning per tick; Dagster times a sensor out at 60 s
MAX_REPORTED = 50  # problems kept in the cursor


# -- the cursor --------------------------------------------------------------------------------
@dataclass
class Entry:
    fp: str = ""  # fingerprint seen at the last scan
    since: float = 0.0  # when that fingerprint was first seen
    req: str = ""  # fingerprint of the last requested run
    gen: int = 0  # runs requested so far (part of the run key)
    err: str = ""  # error for the fingerprint ``fp`` (not retried until the content changes)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"fp": self.fp, "since": round(self.since, 3)}
        if self.req:
            out["req"] = self.req
        if self.gen:
            out["gen"] = self.gen
        if self.err:
            out["err"] = self.err
        return out


GONE = "gone"  # the ``fp`` of a collection whose folder was removed
FP_CHARS = 20  # fingerprint hex digits kept in the cursor and run keys (80 bits)


@dataclass
class DropCursor:
    entries: dict[str, Entry] = field(default_factory=dict)
    last: str = ""  # the round robin resumes after this folder name
    problems: list[str] = field(default_factory=list)  # invalid names etc. from the last tick

    def to_json(self) -> str:
        return json.dumps({"v": 1, "last": self.last, "c": {k: e.to_json() for k, e in sorted(self.entries.items())},
                           "problems": self.problems[:MAX_REPORTED]}, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> "DropCursor":
        """An empty cursor for None, '' or anything unreadable (the sensor then rescans)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            entries = {k: Entry(**v) for k, v in data.get("c", {}).items()}
            return cls(entries=entries, last=str(data.get("last", "")), problems=list(data.get("problems", [])))
        except (ValueError, TypeError, AttributeError, RecursionError):
            return cls()


# -- one tick ---------------------------------------------------------------------------------
@dataclass
class Request:
    name: str
    fingerprint: str
    generation: int
    config: CollectionConfig
    files: int

    @property
    def run_key(self) -> str:
        return f"drop:{self.name}:{self.fingerprint}:{self.generation}"


@dataclass
class Tick:
    requests: list[Request] = field(default_factory=list)
    cursor: DropCursor = field(default_factory=DropCursor)
    log: list[str] = field(default_factory=list)  # what happened, one line each
    new_problems: list[dict[str, str]] = field(default_factory=list)  # first reports only (for alerts)
    scanned: int = 0
    pending: dict[str, float] = field(default_factory=dict)  # name -> seconds until it may settle
    removed: list[str] = field(default_factory=list)
    name_problems: list[str] = field(default_factory=list)  # invalid folder names

    def refresh_problems(self) -> None:
        """Problems = invalid names + every collection whose current content was rejected."""
        errors = [f"{n}: {e.err}" for n, e in sorted(self.cursor.entries.items()) if e.err]
        self.cursor.problems = (self.name_problems + errors)[:MAX_REPORTED]

    def reject(self, name: str, error: str) -> None:
        """Withdraw ``name``'s request (e.g. its name is taken by a collection registered elsewhere)."""
        entry = self.cursor.entries[name]
        self.requests = [r for r in self.requests if r.name != name]
        entry.req, entry.gen = "", max(0, entry.gen - 1)
        entry.err = error
        self.new_problems.append({"collection": name, "error": error})
        self.log.append(f"{name}: skipped: {error}")
        self.refresh_problems()

    def defer(self, name: str, reason: str) -> None:
        """Withdraw ``name``'s request for this tick only (its collection is busy with a run): the
        next tick requests it again, so the sensor never waits on a run's lock."""
        entry = self.cursor.entries[name]
        self.requests = [r for r in self.requests if r.name != name]
        entry.req, entry.gen = "", max(0, entry.gen - 1)
        self.log.append(f"{name}: deferred to the next tick: {reason}")

    def summary(self) -> str:
        parts = [f"{self.scanned} folder(s) scanned", f"{len(self.requests)} run(s) requested"]
        if self.pending:
            parts.append("settling: " + ", ".join(f"{n} ({s:.0f}s)" for n, s in sorted(self.pending.items())))
        if self.cursor.problems:
            parts.append("problems: " + "; ".join(self.cursor.problems[:5]))
        return "; ".join(parts)



def evaluate(
    drop_root: str,
    cursor: DropCursor,
    *,
    now: float | None = None,
    quiet_seconds: float = DEFAULT_QUIET_SECONDS,
    max_folders: int = DEFAULT_MAX_FOLDERS,
    time_budget: float = DEFAULT_TIME_BUDGET,
    storage_options: dict[str, Any] | None = None,
) -> Tick:
    """Scan (part of) the drop root and decide which collections need a run."""
    now = time.time() if now is None else now
    started = time.perf_counter()
    fs, root = filesystem_for(drop_root, storage_options)
    root = root.rstrip("/")
    # fsspec reuses one filesystem object per process, and s3fs keeps every listing it made:
    # without this a long-lived sensor process would never see a new prefix on S3.
    fs.invalidate_cache()
    tick = Tick(cursor=DropCursor(entries=dict(cursor.entries), last=cursor.last))
    if not fs.exists(root):
        tick.cursor.problems = [f"drop root {drop_root} does not exist"]
        tick.log.append(tick.cursor.problems[0])
        return tick
    names, problems = list_collection_folders(fs, root)
    old_problems = set(cursor.problems)
    tick.name_problems = problems
    tick.new_problems.extend({"collection": "", "error": p} for p in problems if p not in old_problems)
    tick.log.extend(problems)

    present = set(names)
    for gone in sorted(set(tick.cursor.entries) - present):
        entry = tick.cursor.entries[gone]
        if entry.fp != GONE:  # a tombstone keeping ``gen``: a folder dropped again runs, with a fresh run key
            entry.fp, entry.req, entry.err = GONE, "", ""
            tick.removed.append(gone)
            tick.log.append(f"{gone}: drop folder removed; its published outputs are kept")

    entries = tick.cursor.entries
    urgent = [n for n in names if n not in entries or (entries[n].fp != entries[n].req and not entries[n].err)]
    rest = [n for n in names if n not in urgent]
    after = [n for n in rest if n > cursor.last]
    order = urgent + after + [n for n in rest if n <= cursor.last]

    for name in order[:max(1, max_folders)]:
        if tick.scanned and time.perf_counter() - started > time_budget:
            tick.log.append(f"time budget of {time_budget:.0f}s spent; the scan goes on next tick")
            break
        tick.scanned += 1
        if name in rest:
            tick.cursor.last = name
        _evaluate_one(tick, fs, root, name, entries.setdefault(name, Entry()), now, quiet_seconds, storage_options)
    tick.refresh_problems()
    return tick


def _evaluate_one(tick: Tick, fs: Any, root: str, name: str, entry: Entry, now: float, quiet: float,
                  storage_options: dict[str, Any] | None) -> None:
    """One folder, isolated: whatever goes wrong with it (a file that breaks a parser, a storage
    error, a bug) is that folder's reported problem, and the tick goes on with the others."""
    try:
        scan = scan_folder(fs, root, name)
    except Exception as exc:  # noqa: BLE001 - any failure is this folder's, never the tick's
        scan = FolderScan(name=name, url=f"{root}/{name}", error=f"cannot scan drop folder {name}: {_what(exc)}")
    try:
        _decide(tick, scan, entry, now, quiet, storage_options)
    except Exception as exc:  # noqa: BLE001
        entry.err = f"drop folder {name}: {_what(exc)}"
        tick.requests = [r for r in tick.requests if r.name != name]
        tick.new_problems.append({"collection": name, "error": entry.err})
        tick.log.append(f"{name}: skipped: {entry.err}")


def _what(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


def _decide(tick: Tick, scan: FolderScan, entry: Entry, now: float, quiet: float,
            storage_options: dict[str, Any] | None) -> None:
    name = scan.name
    if scan.error:
        fp = "error:" + hashlib.sha256(scan.error.encode()).hexdigest()[:FP_CHARS]
        if entry.err != scan.error:
            tick.new_problems.append({"collection": name, "error": scan.error})
        entry.fp, entry.err = fp, scan.error
        tick.log.append(f"{name}: skipped: {scan.error}")
        return
    fp = scan.fingerprint[:FP_CHARS]
    if fp != entry.fp:
        entry.fp, entry.since, entry.err = fp, now, ""
    if entry.err:
        return
    if fp == entry.req:
        return
    if scan.files == 0:
        tick.log.append(f"{name}: empty folder, waiting for images")
        return
    # A clock skewed into the future would never settle: ignore mtimes ahead of now.
    newest = scan.newest_mtime if scan.newest_mtime <= now else entry.since
    wait = max(quiet - (now - entry.since), quiet - (now - newest))
    if wait > 0:
        tick.pending[name] = wait
        tick.log.append(f"{name}: changed, waiting {wait:.0f}s more for the copy to settle ({scan.files} files)")
        return
    try:
        config = drop_config(scan, storage_options)
    except (CvizError, RecursionError, MemoryError) as exc:
        entry.err = str(exc)
        tick.new_problems.append({"collection": name, "error": entry.err})
        tick.log.append(f"{name}: skipped: {entry.err}")
        return
    entry.req = fp
    entry.gen += 1
    tick.requests.append(Request(name, fp, entry.gen, config, scan.files))
    tick.log.append(f"{name}: settled with {scan.files} files; run requested (generation {entry.gen})")
