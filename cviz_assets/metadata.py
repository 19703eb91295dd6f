"""Turn a stage's plain report into Dagster metadata a person can read at a glance.

Numbers become numeric metadata (plotted across partitions on the Plots tab), pictures become
inline images, lists become JSON. Text that comes from user data is only ever put in JSON or
plain-text metadata, never interpolated into markdown.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from cviz.pipeline import StageReport
from cviz.plots import data_uri_markdown


def _mime(data: bytes) -> str:
    return "image/jpeg" if data[:3] == b"\xff\xd8\xff" else "image/png"


def report_metadata(report: StageReport, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key, value in report.values.items():
        if isinstance(value, bool):
            meta[key] = dg.MetadataValue.bool(value)
        elif isinstance(value, int):
            meta[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            meta[key] = dg.MetadataValue.float(value)
        elif value is not None:
            meta[key] = dg.MetadataValue.text(str(value))
    for key, picture in report.pictures.items():
        meta[key] = dg.MetadataValue.md(data_uri_markdown(picture, key.replace("_", " "), _mime(picture)))
    for key, rows in report.tables.items():
        meta[key] = dg.MetadataValue.json(rows)
    meta.update(extra)
    return meta


def summary(report: StageReport) -> str:
    keys = [k for k, v in report.values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return ", ".join(f"{k}={report.values[k]}" for k in keys[:8])
