"""The collection's fields are declared once (cviz.ingest.collection.CollectionConfig); the CLI's flags,
the register job's Launchpad config and the fields a drop folder may set are derived from them. A field added to the config reaches all three, with its default and help."""

from __future__ import annotations

import dataclasses

import pytest

from cviz.ingest import drop_folder
from cviz.ingest.collection import FOLDER_FIELDS, CollectionConfig, config_fields, drop_fields, field_default
from cviz_assets import cli
from cviz_assets.register import CollectionSpec, spec_model


def _extended() -> type:
    """CollectionConfig with one more field, as a future change would add it."""
    return dataclasses.make_dataclass(
        "Extended", [("background", str, dataclasses.field(default="#111111", metadata={"help": "mosaic colour"}))],
        bases=(CollectionConfig,))


def _parser(config_cls: type):
    import argparse

    p = argparse.ArgumentParser()
    cli._collection_args(p, config_cls)
    return p


def test_every_field_reaches_the_cli_the_launchpad_and_drop_folders() -> None:
    names = [f.name for f in config_fields()]
    assert names[:3] == ["name", "images", "metadata"] and "label_columns" in names
    actions = {a.dest: a for a in _parser(CollectionConfig)._actions if a.dest != "help"}
    assert list(actions) == names
    assert list(CollectionSpec.model_fields) == names
    assert drop_folder.CONFIG_FIELDS == tuple(n for n in names if n not in FOLDER_FIELDS)
    for f in config_fields():
        default = field_default(f)
        spec_field = CollectionSpec.model_fields[f.name]
        assert spec_field.description == f.metadata["help"]
        assert f.metadata["help"] in actions[f.name].help
        if default is dataclasses.MISSING:
            assert spec_field.is_required() and actions[f.name].required
        else:
            assert spec_field.default == default


def test_a_new_field_needs_no_second_declaration() -> None:
    ext = _extended()
    assert "background" in drop_fields(ext)
    assert spec_model(ext).model_fields["background"].default == "#111111"
    with pytest.raises(KeyError, match="background"):  # the CLI must be given the new field's flags
        _parser(ext)
    cli.CLI_FLAGS["background"] = ("--background",)
    try:
        args = _parser(ext).parse_args(["-id", "c", "-imagedir", "/x", "--labels", "a, b"])
        spec = cli._spec(args, ext)
    finally:
        del cli.CLI_FLAGS["background"]
    assert spec["background"] == "#111111" and spec["label_columns"] == ["a", "b"]
    assert ext(**spec).background == "#111111"


def test_cli_spec_round_trips_through_the_config() -> None:
    args = _parser(CollectionConfig).parse_args(["-id", "c", "-imagedir", "/x", "-tile", "64x64",
                                                 "-metdata", "/m.csv"])
    config = CollectionConfig.from_dict(cli._spec(args))
    assert (config.cell_size, config.metadata, config.label_columns) == ((64, 64), "/m.csv", [])
