"""What a collection is: a name, where its images are, its metadata CSV and display options.

A collection is registered by writing its config to ``collections/<name>/collection.json`` in the
storage root; the Dagster partition of the same name then materializes it. Everything a run needs
is validated here, before any work starts: the name, the cell size, and the templates (syntax
now; the columns they name as soon as the CSV header is read).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from cviz.errors import CvizError
from cviz.ingest.templates import Template, parse_template
from cviz.paths import validate_collection_name

DEFAULT_TITLE = "{title}"
DEFAULT_URL = "{url}"
DEFAULT_CELL = "128x128"
FOLDER_FIELDS = ("name", "images", "metadata")  # what a drop folder sets from itself (cviz.ingest.drop)
LAYOUTS = ("timeline", "category")  # besides the similarity map (cviz/arrange/layouts.py)


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


def parse_cell_size(cell: str) -> tuple[int, int]:
    """``"128x96"`` -> (128, 96): the size of one item's cell on the map. Sides from 16 to 1024 pixels.

    (Not the Deep Zoom tile size, which the pyramid chooses: :func:`cviz.render.dzi.choose_tile_size`.)
    """
    m = re.fullmatch(r"\s*(\d{1,4})\s*[xX]\s*(\d{1,4})\s*", str(cell))
    if not m:
        raise CvizError(f"cell size {cell!r} must look like WIDTHxHEIGHT, e.g. 128x128")
    w, h = int(m.group(1)), int(m.group(2))
    if not (16 <= w <= 1024 and 16 <= h <= 1024):
        raise CvizError(f"cell size {cell!r}: each side must be between 16 and 1024 pixels")
    return w, h


def _field(help: str, **kw: Any) -> Any:
    """A config field with its help text: the CLI, the Launchpad's register job and drop folders
    derive their field lists (names, defaults, help) from these declarations."""
    return field(metadata={"help": help}, **kw)


@dataclass
class CollectionConfig:
    name: str = _field("collection name (partition key)")
    images: str | None = _field("image folder or glob, e.g. 'photos/*.jpg' (local path or URL, s3://...); "
                                "none when the images are URLs (image_url_column, iiif_manifest)", default=None)
    metadata: str | None = _field("metadata CSV (path or URL); none: no metadata", default=None)
    filename_column: str = _field("CSV column with file names", default="filename")
    title: str = _field("title template, e.g. '{Name} ({Year})'", default=DEFAULT_TITLE)
    url: str = _field("record link template, e.g. 'https://example.org/{Id}/'", default=DEFAULT_URL)
    cell: str = _field("cell size WxH, one item's square on the map (default 128x128)", default=DEFAULT_CELL)
    label_columns: list[str] = _field("label columns for the neighbour-agreement score", default_factory=list)
    layouts: dict[str, Any] = _field("extra layouts besides the similarity map: false turns one off, {\"column\": ...} chooses its column",
                                     default_factory=default_layouts)
    image_url_column: str | None = _field("metadata CSV column holding each row's image URL (http/https, IIIF Image "
                                          "API URLs asked for a 512 px size) instead of an image folder", default=None)
    iiif_manifest: str | None = _field("IIIF Presentation 3 or 2.1 manifest or collection URL: every canvas's image "
                                       "is an item (instead of an image folder and metadata CSV)", default=None)

    def __post_init__(self) -> None:
        validate_collection_name(self.name)
        self._check_source()
        parse_cell_size(self.cell)
        self.layouts = validate_layouts(self.layouts, self.name)
        self.title_template
        self.url_template

    def _check_source(self) -> None:
        """Exactly one source of images: a folder, a CSV column of URLs, or a IIIF manifest."""
        given = [k for k in ("images", "image_url_column", "iiif_manifest") if getattr(self, k)]
        for k in given:
            if not isinstance(getattr(self, k), str):
                raise CvizError(f"collection {self.name}: {k!r} must be a string, not {getattr(self, k)!r}")
        if len(given) != 1:
            raise CvizError(f"collection {self.name}: give exactly one source of images: 'images' (a folder or "
                            "glob), 'image_url_column' (with 'metadata') or 'iiif_manifest' (a URL); "
                            + (f"got {given}" if given else "got none"))
        if self.image_url_column and not self.metadata:
            raise CvizError(f"collection {self.name}: 'image_url_column' {self.image_url_column!r} needs the "
                            "metadata CSV that holds it ('metadata')")
        if self.iiif_manifest:
            if self.metadata:
                raise CvizError(f"collection {self.name}: a IIIF manifest brings its own metadata; "
                                "leave 'metadata' unset")
            if not re.match(r"^https?://[^/]", self.iiif_manifest):
                raise CvizError(f"collection {self.name}: 'iiif_manifest' must be an http(s) URL, "
                                f"not {self.iiif_manifest!r}")

    @property
    def remote(self) -> bool:
        """True when the images are fetched over HTTP(S) rather than listed in a folder."""
        return bool(self.image_url_column or self.iiif_manifest)

    @property
    def key_column(self) -> str:
        """The metadata column rows are keyed by: the image URL column, else the file name column."""
        return self.image_url_column or self.filename_column

    @property
    def cell_size(self) -> tuple[int, int]:
        return parse_cell_size(self.cell)

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
        """A config from its JSON form (older field names read as today's: :func:`renamed_fields`)."""
        data = renamed_fields(data)
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise CvizError(f"collection config has unknown field(s) {unknown}; known: {sorted(known)}")
        return cls(**data)


#: Fields renamed since collection.json files were first written: old name -> today's. ``tile`` was the
#: cell size's name (it is still the original scripts' flag, ``-tile``).
RENAMED_FIELDS = {"tile": "cell"}


def renamed_fields(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with every field of :data:`RENAMED_FIELDS` under its name of today (today's wins), so
    collection.json files written earlier stay valid."""
    out = {k: v for k, v in data.items() if k not in RENAMED_FIELDS}
    for old, new in RENAMED_FIELDS.items():
        if old in data:
            out.setdefault(new, data[old])
    return out


def config_fields(config_cls: type = CollectionConfig) -> tuple[dataclasses.Field, ...]:
    """The collection's fields, in declaration order (name, type, default, ``metadata["help"]``)."""
    return dataclasses.fields(config_cls)


def drop_fields(config_cls: type = CollectionConfig) -> tuple[str, ...]:
    """What a drop folder's ``collection.json`` may set: every field but ``FOLDER_FIELDS``."""
    return tuple(f.name for f in config_fields(config_cls) if f.name not in FOLDER_FIELDS)


def field_default(f: dataclasses.Field) -> Any:
    """A field's default value (a fresh one for a factory); ``dataclasses.MISSING`` when required."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return dataclasses.MISSING
