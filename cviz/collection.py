"""What a collection is: a name, where its images are, its metadata CSV and display options.

A collection is registered by writing its config to ``collections/<name>/collection.json`` in the
storage root; the Dagster partition of the same name then materializes it. Everything a run needs
is validated here, before any work starts: the name, the tile size, and the templates (syntax
now; the columns they name as soon as the CSV header is read).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from cviz.errors import CvizError
from cviz.names import validate_collection_name
from cviz.templates import Template, parse_template

DEFAULT_TITLE = "{title}"
DEFAULT_URL = "{url}"
DEFAULT_TILE = "128x128"
LAYOUTS = ("timeline", "category")  # besides the similarity map (cviz/layouts.py)


def default_layouts() -> dict[str, Any]:
    """Both extra layouts on, each with its default column (README, "Layouts")."""
    return {layout: {"column": None} for layout in LAYOUTS}


def validate_layouts(value: Any, name: str) -> dict[str, Any]:
    """``layouts`` of collection.json: ``{"timeline": false}`` turns one off, ``{"category": {"column":
    "department"}}`` chooses its column; a layout not named keeps its default (on, default column)."""
    if value is None:
        return default_layouts()
    if not isinstance(value, dict):
        raise CvizError(f"collection {name}: 'layouts' must be an object such as "
                        '{"timeline": false, "category": {"column": "department"}}, not ' + repr(value))
    unknown = sorted(set(value) - set(LAYOUTS))
    if unknown:
        raise CvizError(f"collection {name}: layouts has unknown layout(s) {unknown}; known: {list(LAYOUTS)}")
    out = default_layouts()
    for layout, setting in value.items():
        if setting is False:
            out[layout] = False
        elif setting is True or setting is None:
            out[layout] = {"column": None}
        elif isinstance(setting, dict):
            extra = sorted(set(setting) - {"column"})
            column = setting.get("column")
            if extra or not (column is None or (isinstance(column, str) and column.strip())):
                raise CvizError(f"collection {name}: layouts.{layout} takes only 'column' (a CSV column name "
                                f"or null), got {setting!r}")
            out[layout] = {"column": column.strip() if column else None}
        else:
            raise CvizError(f"collection {name}: layouts.{layout} must be false, true or "
                            f'{{"column": "<CSV column>"}}, not {setting!r}')
    return out


def parse_tile(tile: str) -> tuple[int, int]:
    """``"128x96"`` -> (128, 96). Sides from 16 to 1024 pixels."""
    m = re.fullmatch(r"\s*(\d{1,4})\s*[xX]\s*(\d{1,4})\s*", str(tile))
    if not m:
        raise CvizError(f"tile size {tile!r} must look like WIDTHxHEIGHT, e.g. 128x128")
    w, h = int(m.group(1)), int(m.group(2))
    if not (16 <= w <= 1024 and 16 <= h <= 1024):
        raise CvizError(f"tile size {tile!r}: each side must be between 16 and 1024 pixels")
    return w, h


@dataclass
class CollectionConfig:
    name: str
    images: str  # a folder or a glob; local path or URL (s3://...)
    metadata: str | None = None  # CSV path or URL; None: no metadata
    filename_column: str = "filename"
    title: str = DEFAULT_TITLE
    url: str = DEFAULT_URL
    tile: str = DEFAULT_TILE
    label_columns: list[str] = field(default_factory=list)  # for the neighbour-agreement score
    layouts: dict[str, Any] = field(default_factory=default_layouts)  # timeline/category: False or {"column": ...}

    def __post_init__(self) -> None:
        validate_collection_name(self.name)
        if not self.images or not isinstance(self.images, str):
            raise CvizError(f"collection {self.name}: 'images' (a folder or glob) is required")
        parse_tile(self.tile)
        self.layouts = validate_layouts(self.layouts, self.name)
        self.title_template
        self.url_template

    @property
    def tile_size(self) -> tuple[int, int]:
        return parse_tile(self.tile)

    @property
    def title_template(self) -> Template:
        return parse_template(self.title, "title template")

    @property
    def url_template(self) -> Template:
        return parse_template(self.url, "url template")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CollectionConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CvizError(f"collection config has unknown field(s) {unknown}; known: {sorted(known)}")
        return cls(**data)
