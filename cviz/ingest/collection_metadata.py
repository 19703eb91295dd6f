"""A collection's metadata CSV as the config sees it: read it, and check the config's templates
and label columns against its header before any work starts (``cviz add``, the register job,
drop folders and the catalogue all call these)."""

from __future__ import annotations

from typing import Any

from cviz.errors import MetadataError
from cviz.ingest.collection import DEFAULT_TITLE, DEFAULT_URL, CollectionConfig
from cviz.ingest.metadata_csv import MetadataTable, parse_metadata, read_metadata_bytes
from cviz.storage import filesystem_for


def read_metadata(config: CollectionConfig, storage_options: dict[str, Any] | None = None) -> MetadataTable | None:
    if not config.metadata:
        return None
    fs, path = filesystem_for(config.metadata, storage_options)
    data = read_metadata_bytes(fs, path, config.metadata)
    return parse_metadata(data, config.metadata, config.key_column)


def check_templates(config: CollectionConfig, table: MetadataTable | None) -> list[str]:
    """Fail before any work if a template names a column that is not there; return notes."""
    notes = []
    columns = table.columns if table else []
    for template, default, what in (
        (config.title_template, DEFAULT_TITLE, "title"),
        (config.url_template, DEFAULT_URL, "url"),
    ):
        if config.__dict__[what] == default and any(c not in columns for c in template.columns):
            notes.append(f"no {template.columns[0]!r} column: {what}s fall back to " + ("the file name" if what == "title" else "none"))
            continue
        if table is None and template.columns:
            notes.append(f"{what} template {template.source!r} has no metadata CSV to read from")
            continue
        template.check_columns(columns, what)
    return notes


def check_label_columns(config: CollectionConfig, table: MetadataTable | None) -> None:
    """``--labels`` must name columns of the metadata CSV (else the quality score silently vanishes)."""
    if not config.label_columns:
        return
    columns = table.columns if table else []
    missing = [c for c in config.label_columns if c not in columns]
    if missing:
        where = f"the metadata CSV {table.source} has {columns}" if table else "there is no metadata CSV"
        raise MetadataError(f"label column(s) {missing} not found: {where}")
