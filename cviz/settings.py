"""Every ``CVIZ_*`` environment variable cviz reads, in one place: typed, defaulted, documented.

Code never reads ``os.environ`` for a ``CVIZ_*`` name itself: it calls :func:`settings` (or takes
the value as a parameter). The environment is parsed once per distinct set of ``CVIZ_*`` values
(tests that ``monkeypatch.setenv`` get the new value at the next call; :func:`reset` drops the
cache). A bad value fails at once with an error naming the variable.

The configuration table in docs/configuration.md is generated from here: ``python -m cviz.settings`` prints it,
``python -m cviz.settings --update docs/configuration.md`` rewrites it, and ``tests/test_settings_docs.py``
fails when the two differ. Variables read outside Python (``scripts/run.sh``, ``dagster.yaml``,
the viewer's server) are listed in :data:`EXTERNAL` so the table covers them too.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Mapping

from cviz.errors import CvizError

PREFIX = "CVIZ_"
TRUE = ("1", "on", "true", "yes", "running")
FALSE = ("0", "off", "false", "no", "")


class SettingsError(CvizError):
    """An environment variable holds a value of the wrong kind."""


def _var(env: str, default: Any, doc: str, shown: str | None = None) -> Any:
    """A field read from ``env``; ``shown`` is the default as docs/configuration.md writes it (None: ``default``)."""
    return field(default=default, metadata={"env": env, "doc": doc, "shown": shown})


@dataclass(frozen=True)
class Settings:
    """cviz's configuration from the environment (see the module docstring). Defaults are the values
    used when a variable is unset or empty."""

    # storage and models
    storage_root: str = _var("CVIZ_STORAGE_ROOT", "cviz_data", "storage root: folder or `s3://bucket/prefix`",
                             "`./cviz_data`")
    s3_endpoint_url: str | None = _var("CVIZ_S3_ENDPOINT_URL", None,
                                       "S3 endpoint for non-AWS servers (MinIO, moto)", "AWS")
    storage_retries: int = _var("CVIZ_STORAGE_RETRIES", 5, "attempts per object-storage operation on transient errors")
    storage_backoff_s: float = _var("CVIZ_STORAGE_BACKOFF_S", 0.5,
                                    "first wait between storage retries, seconds (doubling, at most 8)")
    model: str = _var("CVIZ_MODEL", "efficientnet_lite0",
                      "feature model: `efficientnet_lite0`, `vgg16`, or any `keras.applications` name")
    weights: str = _var("CVIZ_WEIGHTS", "imagenet",
                        "`imagenet`, a local weights file, or `random` (tests only; labelled RANDOM)")
    backend: str = _var("CVIZ_BACKEND", "auto",
                        "inference runtime: `auto` (LiteRT for Lite0, Keras otherwise), `litert`, `keras`")
    precision: str | None = _var("CVIZ_PRECISION", None,
                                 "feature precision: `int8` (Lite0 on LiteRT) or `float32`",
                                 "int8 for Lite0 with ImageNet weights on LiteRT, else float32")
    model_cache: str | None = _var("CVIZ_MODEL_CACHE", None,
                                   "folder for the converted LiteRT model, shared by every storage root on the machine "
                                   "(a conversion takes about 20 s)",
                                   "`cache/models` under a local storage root, else `~/.cache/cviz/models`")
    viewer_url: str = _var("CVIZ_VIEWER_URL", "http://127.0.0.1:8080",
                           "where the viewer is served (for the links in asset metadata)")
    ui_url: str = _var("CVIZ_UI_URL", "http://127.0.0.1:3000", "Dagster UI base URL for alert and email links")
    # drop folder
    drop_root: str | None = _var("CVIZ_DROP_ROOT", None, "the watched drop folder (folder or `s3://...`)",
                                 "`<storage root>/drop`")
    drop_quiet_seconds: float = _var("CVIZ_DROP_QUIET_SECONDS", 60.0, "settle time of a drop folder, seconds")
    drop_interval_seconds: int = _var("CVIZ_DROP_INTERVAL_SECONDS", 30, "drop sensor interval, seconds")
    drop_max_folders: int = _var("CVIZ_DROP_MAX_FOLDERS", 200, "drop folders looked at per sensor tick")
    # alerts
    alerts_path: str | None = _var("CVIZ_ALERTS_PATH", None,
                                   "alerts file (JSON lines: run and check failures, stray partitions, rejected drops)",
                                   "`<storage root>/ops/alerts.jsonl`")
    alert_webhook_url: str | None = _var("CVIZ_ALERT_WEBHOOK_URL", None, "webhook posted for every alert (secret)")
    alert_webhook_format: str = _var("CVIZ_ALERT_WEBHOOK_FORMAT", "json", "webhook body: `json` or `slack`")
    alert_webhook_timeout_s: float = _var("CVIZ_ALERT_WEBHOOK_TIMEOUT_S", 5.0, "per-try webhook timeout, seconds")
    alert_webhook_retries: int = _var("CVIZ_ALERT_WEBHOOK_RETRIES", 3, "webhook retries on 5xx/429/network errors")
    smtp_host: str | None = _var("CVIZ_SMTP_HOST", None, "run-failure email (Dagster's email sensor): SMTP server")
    smtp_port: int | None = _var("CVIZ_SMTP_PORT", None, "SMTP port", "SMTP default")
    smtp_user: str | None = _var("CVIZ_SMTP_USER", None, "SMTP user")
    smtp_password: str | None = _var("CVIZ_SMTP_PASSWORD", None, "SMTP password (secret)")
    smtp_type: str = _var("CVIZ_SMTP_TYPE", "STARTTLS", "SMTP security: `STARTTLS` or `SSL`")
    alert_email_to: str | None = _var("CVIZ_ALERT_EMAIL_TO", None, "run-failure email recipients (comma-separated)")
    alert_email_from: str | None = _var("CVIZ_ALERT_EMAIL_FROM", None, "run-failure email sender",
                                        "`CVIZ_SMTP_USER`")
    recheck_schedule: bool = _var("CVIZ_RECHECK_SCHEDULE", False,
                                  "start the daily re-check of published maps (`on`)", "off (`on` in `make run`)")
    recheck_cron: str = _var("CVIZ_RECHECK_CRON", "0 4 * * *", "cron (UTC) of the daily re-check")
    # governance, runs, executors
    asset_owners: str = _var("CVIZ_ASSET_OWNERS", "", "owners on every asset (`team:x`, e-mails; comma-separated)",
                             "none")
    asset_tags: str = _var("CVIZ_ASSET_TAGS", "", "`key=value` tags on every asset (comma-separated)", "none")
    preload_tensorflow: bool = _var("CVIZ_PRELOAD_TENSORFLOW", True,
                                    "import TensorFlow once in the multiprocess forkserver (`0`: no)", "`1`")
    executor: str = _var("CVIZ_EXECUTOR", "auto",
                         "executor: `auto` (every job in-process, the asset graph's Materialize included; "
                         "`features_chunks` `multiprocess` with a preloaded forkserver), `multiprocess`, "
                         "`multiprocess_spawn`, `dask`, `in_process`, `celery`, `k8s`")
    dask_address: str | None = _var("CVIZ_DASK_ADDRESS", None, "dask scheduler (unset: a local cluster per run)",
                                    "local cluster")
    dask_workers: int = _var("CVIZ_DASK_WORKERS", 2, "workers of the per-run local dask cluster")
    celery_broker: str | None = _var("CVIZ_CELERY_BROKER", None, "celery broker URL", "dagster-celery's")
    celery_backend: str = _var("CVIZ_CELERY_BACKEND", "rpc://", "celery result backend")
    step_retries: int = _var("CVIZ_STEP_RETRIES", 2, "retries of a step failing with a transient error")
    step_retry_delay_s: float = _var("CVIZ_STEP_RETRY_DELAY_S", 5.0, "first wait before a step retry, seconds")
    feature_chunk: int = _var("CVIZ_FEATURE_CHUNK", 5000, "images per features chunk")
    feature_workers: int = _var("CVIZ_FEATURE_WORKERS", 2, "steps of the `features_chunks` job")
    lock_wait_s: float = _var("CVIZ_LOCK_WAIT_S", 30.0, "wait for a collection busy with another run, seconds")
    lock_stale_s: float = _var("CVIZ_LOCK_STALE_S", 60.0, "age of a lock's heartbeat at which it is taken over")
    metadata_max_bytes: int = _var("CVIZ_METADATA_MAX_BYTES", 512 << 20, "largest metadata CSV read",
                                   "`536870912` (512 MiB)")
    metadata_timeout_s: float = _var("CVIZ_METADATA_TIMEOUT_S", 120.0, "longest metadata CSV read, seconds")
    viewer_lazy_above: int = _var("CVIZ_VIEWER_LAZY_ABOVE", 100_000,
                                  "items above which a map publishes lazy item tables (items-index.json and shards) "
                                  "instead of one items.json (docs/outputs.md)", "`100000`")
    # collections fetched over HTTP(S): image URLs and IIIF (cviz/ingest/fetch.py, docs/iiif.md)
    fetch_per_host: int = _var("CVIZ_FETCH_PER_HOST", 4, "open connections per image host at most (politeness)")
    fetch_timeout_s: float = _var("CVIZ_FETCH_TIMEOUT_S", 30.0,
                                  "longest single HTTP request (headers and body), seconds")
    fetch_max_bytes: int = _var("CVIZ_FETCH_MAX_BYTES", 50 << 20, "largest image response read; larger ones are "
                                "cut off and the row reported", "`52428800` (50 MiB)")
    fetch_retries: int = _var("CVIZ_FETCH_RETRIES", 4, "retries of a request answered 429 or 5xx, or timed out")
    fetch_backoff_s: float = _var("CVIZ_FETCH_BACKOFF_S", 0.5,
                                  "first wait between HTTP retries, seconds (doubling, at most 8; `Retry-After` wins)")
    fetch_max_wait_s: float = _var("CVIZ_FETCH_MAX_WAIT_S", 60.0,
                                   "longest `Retry-After` honoured, seconds; a host asking for more fails the row")
    iiif_max_canvases: int = _var("CVIZ_IIIF_MAX_CANVASES", 5000, "canvases read from a IIIF manifest or collection")
    iiif_max_depth: int = _var("CVIZ_IIIF_MAX_DEPTH", 2, "levels of nested IIIF collections followed")
    iiif_max_bytes: int = _var("CVIZ_IIIF_MAX_BYTES", 32 << 20, "largest IIIF manifest or info.json read",
                               "`33554432` (32 MiB)")
    drop_config_max_bytes: int = _var("CVIZ_DROP_CONFIG_MAX_BYTES", 1 << 20,
                                      "largest `collection.json` the drop sensor reads (a few fields; more is refused "
                                      "unread)", "`1048576` (1 MiB)")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Settings":
        """Parse every field from ``environ`` (default ``os.environ``); SettingsError names a bad one."""
        env = os.environ if environ is None else environ
        values = {}
        for f in dataclasses.fields(cls):
            raw = (env.get(f.metadata["env"]) or "").strip()
            if raw:
                values[f.name] = _parse(f.metadata["env"], raw, f.type)
        return cls(**values)


def _parse(name: str, raw: str, kind: Any) -> Any:
    kind = str(kind)
    try:
        if kind.startswith("int"):
            return int(raw)
        if kind.startswith("float"):
            return float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if kind == "bool":
        if raw.lower() in TRUE:
            return True
        if raw.lower() in FALSE:
            return False
        raise SettingsError(f"{name}={raw!r} is not on/off (one of {', '.join(TRUE + FALSE[:-1])})")
    return raw


@functools.lru_cache(maxsize=16)
def _cached(snapshot: tuple[tuple[str, str], ...]) -> Settings:
    return Settings.from_env(dict(snapshot))


def env_name(field_name: str) -> str:
    """The variable behind a field: ``env_name("storage_root") == "CVIZ_STORAGE_ROOT"``."""
    return next(f.metadata["env"] for f in dataclasses.fields(Settings) if f.name == field_name)


def settings() -> Settings:
    """The settings of the current environment, parsed once per distinct set of ``CVIZ_*`` values."""
    return _cached(tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(PREFIX))))


def reset() -> None:
    """Forget parsed settings (for tests that change the environment behind os.environ's back)."""
    _cached.cache_clear()


# Variables whose values are secrets: redacted from every alert (cviz.stages.alerts.redact).
SECRET_VARIABLES = ("CVIZ_PG_PASSWORD", "CVIZ_SMTP_PASSWORD", "CVIZ_ALERT_WEBHOOK_URL")

# Read outside Python: (variable, meaning, default as shown).
EXTERNAL: tuple[tuple[str, str, str], ...] = (
    ("CVIZ_UI_PORT", "port of the Dagster UI in `make run` (scripts/run.sh)", "`3000`"),
    ("CVIZ_VIEWER_PORT", "port of the viewer's server (`make run`, viewer/server.js; `0`: any free port)", "`8080`"),
    ("CVIZ_VIEWER_LOG", "viewer/server.js: `1` logs one line per request", "off"),
    ("CVIZ_PG_HOST", "PostgreSQL instance storage (deploy/dagster.postgres.yaml): host", "none"),
    ("CVIZ_PG_PORT", "PostgreSQL port", "none"),
    ("CVIZ_PG_DB", "PostgreSQL database", "none"),
    ("CVIZ_PG_USER", "PostgreSQL user", "none"),
    ("CVIZ_PG_PASSWORD", "PostgreSQL password (secret)", "none"),
    ("CVIZ_CODE_SERVER_HOST", "host of the code-location server (deploy/workspace.yaml)", "none"),
    ("CVIZ_CODE_SERVER_PORT", "port of the code-location server (deploy/workspace.yaml)", "none"),
)


def _shown(f: dataclasses.Field) -> str:
    if f.metadata["shown"] is not None:
        return f.metadata["shown"]
    if f.default is None:
        return "none"
    return f"`{f.default:g}`" if isinstance(f.default, float) else f"`{f.default}`"


def rows() -> list[tuple[str, str, str]]:
    """(variable, meaning, default) for every variable, Python-read ones first, in declaration order."""
    return [(f.metadata["env"], f.metadata["doc"], _shown(f)) for f in dataclasses.fields(Settings)] + list(EXTERNAL)


def markdown_table() -> str:
    """The configuration table of docs/configuration.md (one row per variable)."""
    lines = ["| variable | meaning | default |", "|---|---|---|"]
    lines += [f"| `{name}` | {doc} | {default} |" for name, doc, default in rows()]
    return "\n".join(lines) + "\n"


BEGIN = "<!-- settings table: generated by `python -m cviz.settings --update docs/configuration.md` -->"
END = "<!-- end of settings table -->"


def update_readme(path: str) -> bool:
    """Rewrite the table between BEGIN and END in ``path``; True if it changed."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    head, sep, rest = text.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not sep or not sep2:
        raise SystemExit(f"{path}: no {BEGIN!r} ... {END!r} markers")
    new = f"{head}{BEGIN}\n{markdown_table()}{END}{tail}"
    if new != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(new)
    return new != text


if __name__ == "__main__":  # pragma: no cover - a docs helper
    if sys.argv[1:2] == ["--update"]:
        print("updated" if update_readme(sys.argv[2]) else "unchanged")
    else:
        sys.stdout.write(markdown_table())
