"""Structured alerts for ops tooling: one JSON object per line in ``<storage root>/ops/alerts.jsonl``
(or wherever ``CVIZ_ALERTS_PATH`` points), appended, never rewritten on a local disk.

One line per event keeps the file greppable and tail-able (``tail -F | jq``), and a shipper such as
Vector or Fluent Bit can forward it as is. Keys are stable: ``time``, ``kind``, ``collection``,
``error`` always; run failures add ``run_id``, ``job``, ``steps``, ``run_url``.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from cviz.storage import filesystem_for, is_local

ALERTS_REL = "ops/alerts.jsonl"


def alerts_path(storage_root_url: str) -> str:
    """``CVIZ_ALERTS_PATH`` if set, else ``<storage root>/ops/alerts.jsonl``."""
    return os.environ.get("CVIZ_ALERTS_PATH") or f"{storage_root_url.rstrip('/')}/{ALERTS_REL}"


def alert_record(kind: str, collection: str | None, error: str, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "kind": kind,
                              "collection": collection or "", "error": error}
    record.update(extra)
    return record


def append_alert(path: str, record: dict[str, Any], storage_options: dict[str, Any] | None = None) -> None:
    """Append one line. Local files use O_APPEND (one write per line, so lines never interleave);
    object stores have no append, so the object is read and rewritten (alerts are rare)."""
    line = (json.dumps(record, ensure_ascii=False, sort_keys=True, default=str) + "\n").encode("utf-8")
    fs, p = filesystem_for(path, storage_options)
    if is_local(fs):
        os.makedirs(os.path.dirname(os.path.abspath(p)), exist_ok=True)
        fd = os.open(p, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        return
    try:
        old = fs.cat_file(p)
    except FileNotFoundError:
        old = b""
    fs.pipe_file(p, old + line)
