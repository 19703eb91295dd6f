"""Structured alerts for ops tooling: one JSON object per line in ``<storage root>/ops/alerts.jsonl``
(or wherever ``CVIZ_ALERTS_PATH`` points), appended, never rewritten on a local disk.

One line per event keeps the file greppable and tail-able (``tail -F | jq``), and a shipper such as
Vector or Fluent Bit can forward it as is. Keys are stable: ``time``, ``kind``, ``collection``,
``error`` always; run failures add ``run_id``, ``job``, ``steps``, ``run_url``; check failures
(``check_failure``, ``check_warning``) add ``asset``, ``check``, ``offending_count``,
``offending_items``, ``run_id``, ``run_url``.

``send`` writes to every sink: the file, and a webhook (``CVIZ_ALERT_WEBHOOK_URL``) posted in a
background thread with retries and a timeout, so neither a slow receiver nor an outage blocks the
sensor that raised the alert. Secrets are redacted from every record before it is written or sent.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any, Callable

from cviz.errors import CvizError
from cviz.paths import ALERTS
from cviz.settings import SECRET_VARIABLES, settings
from cviz.storage import open_storage

ALERTS_REL = ALERTS


def alerts_path(storage_root_url: str) -> str:
    """``CVIZ_ALERTS_PATH`` if set, else ``<storage root>/ops/alerts.jsonl``."""
    return settings().alerts_path or f"{storage_root_url.rstrip('/')}/{ALERTS_REL}"


def alert_record(kind: str, collection: str | None, error: str, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "kind": kind,
                              "collection": collection or "", "error": error}
    record.update(extra)
    return record


def append_alert(path: str, record: dict[str, Any], storage_options: dict[str, Any] | None = None) -> None:
    """Append one line. Local files use O_APPEND (one write per line, so lines never interleave);
    object stores have no append, so the object is read and rewritten (alerts are rare)."""
    line = (json.dumps(record, ensure_ascii=False, sort_keys=True, default=str) + "\n").encode("utf-8")
    folder, _, name = str(path).rstrip("/").rpartition("/")
    open_storage(folder or ".", storage_options).append_line(name, line)


# -- delivery to people: a webhook (generic JSON or Slack's incoming-webhook shape) ------------
# Values of these variables never leave the machine in an alert, whatever error text holds them.
SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD", *SECRET_VARIABLES)
_SECRET_KEY = re.compile(r"(password|secret|token|credential|api[_-]?key)", re.I)
_URL_USERINFO = re.compile(r"([a-z][a-z0-9+.-]*://)[^/\s@]+@", re.I)
WEBHOOK_FORMATS = ("json", "slack")


def redact(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` without secrets: values of SECRET_ENV anywhere in its text, values of
    keys that name a secret, and ``user:password@`` in URLs are replaced by ``[redacted]``."""
    secrets = sorted((v for v in (os.environ.get(k) for k in SECRET_ENV) if v and len(v) >= 4), key=len, reverse=True)

    def clean(value: Any, key: str = "") -> Any:
        if key and _SECRET_KEY.search(key):
            return "[redacted]"
        if isinstance(value, dict):
            return {k: clean(v, str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if isinstance(value, str):
            for s in secrets:
                value = value.replace(s, "[redacted]")
            return _URL_USERINFO.sub(r"\1[redacted]@", value)
        return value

    return clean(record)


def summary_line(record: dict[str, Any], fmt: str = "json") -> str:
    """One human line: what, which collection, the error, the run link. ``fmt="slack"`` writes the
    link in Slack's markup (``<url|run>``); every other sink gets the plain URL (``run: url``)."""
    what = record.get("kind", "alert").replace("_", " ")
    where = record.get("collection") or "cviz"
    check = f" {record['asset']}:{record['check']}" if record.get("check") else (f" {record['asset']}" if record.get("asset") else "")
    url = record.get("run_url")
    link = (f" <{url}|run>" if fmt == "slack" else f" (run: {url})") if url else ""
    return f"cviz {what}: {where}{check}: {record.get('error', '')}{link}"[:3000]


@dataclass
class Webhook:
    """A JSON POST per alert, retried with backoff on 5xx/429/network errors, each try bounded by
    ``timeout_s``. ``fmt="slack"`` posts ``{"text": ...}``, what a Slack incoming webhook takes."""

    url: str
    timeout_s: float = 5.0
    retries: int = 3
    backoff_s: float = 1.0
    fmt: str = "json"

    def payload(self, record: dict[str, Any]) -> bytes:
        record = redact(record)
        text = summary_line(record, self.fmt)
        body: dict[str, Any] = {"text": text} if self.fmt == "slack" else {**record, "text": text}
        return json.dumps(body, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")

    def post(self, record: dict[str, Any]) -> tuple[bool, str]:
        """Deliver synchronously; returns (delivered, last error). Never raises."""
        data = self.payload(record)
        error = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            req = urllib.request.Request(self.url, data=data, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "cviz-alerts/1"})
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                    resp.read(65536)
                return True, ""
            except urllib.error.HTTPError as exc:
                error = f"HTTP {exc.code}"
                if exc.code < 500 and exc.code != 429:
                    return False, error  # the receiver refuses this payload: retrying will not help
            except (urllib.error.URLError, OSError, TimeoutError) as exc:
                error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        return False, error

    def post_async(self, record: dict[str, Any], on_give_up: Callable[[str], None] | None = None) -> threading.Thread:
        """Deliver in a daemon thread, so a slow or hanging receiver never blocks the caller (a sensor)."""

        def deliver() -> None:
            ok, error = self.post(record)
            if not ok and on_give_up is not None:
                try:
                    on_give_up(error)
                except Exception:  # reporting a failed delivery is best effort
                    pass

        thread = threading.Thread(target=deliver, name="cviz-alert-webhook", daemon=True)
        thread.start()
        return thread


def webhook_from_env() -> Webhook | None:
    """``CVIZ_ALERT_WEBHOOK_URL`` (unset: no webhook), ``CVIZ_ALERT_WEBHOOK_FORMAT`` (json|slack),
    ``CVIZ_ALERT_WEBHOOK_TIMEOUT_S`` (5), ``CVIZ_ALERT_WEBHOOK_RETRIES`` (3)."""
    s = settings()  # a bad timeout or retry count raises SettingsError naming the variable
    url = (s.alert_webhook_url or "").strip()
    if not url:
        return None
    fmt = s.alert_webhook_format.strip().lower()
    if fmt not in WEBHOOK_FORMATS:
        raise CvizError(f"CVIZ_ALERT_WEBHOOK_FORMAT={fmt!r} is not one of {', '.join(WEBHOOK_FORMATS)}")
    return Webhook(url, timeout_s=s.alert_webhook_timeout_s, retries=s.alert_webhook_retries, fmt=fmt)


def send(path: str, record: dict[str, Any], storage_options: dict[str, Any] | None = None) -> list[threading.Thread]:
    """Every sink: the JSON-lines file (at once), then the webhook if configured (in the background).

    Returns the delivery threads (tests join them; sensors do not wait). A webhook that still fails
    after its retries leaves an ``alert_delivery_failed`` line in the file."""
    record = redact(record)
    append_alert(path, record, storage_options)
    hook = webhook_from_env()
    if hook is None:
        return []

    def gave_up(error: str) -> None:
        append_alert(path, alert_record("alert_delivery_failed", record.get("collection"), error,
                                        alert_kind=record.get("kind"), alert_time=record.get("time")), storage_options)

    return [hook.post_async(record, on_give_up=gave_up)]
