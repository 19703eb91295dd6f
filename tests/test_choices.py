"""Each choice of a run is declared once and offered the same way everywhere: the CLI, the
Launchpad and docs/configuration.md all derive from the registries beside the code."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from cviz.arrange.grid import METHODS
from cviz_assets import choices
from cviz_assets.assets import GridConfig, PcaConfig, TsneConfig
from cviz_assets.cli import build_parser

REPO = Path(__file__).resolve().parents[1]


def _launchpad(config: type, field: str) -> list[str]:
    return list(typing.get_args(config.model_fields[field].annotation))


def _cli(flag: str) -> list[str]:
    run = build_parser()._subparsers._group_actions[0].choices["run"]  # noqa: SLF001 (argparse keeps no public map)
    return [a for a in run._actions if flag in a.option_strings][0].choices  # noqa: SLF001


@pytest.mark.parametrize("title, config, field", [("grid method", GridConfig, "method"),
                                                 ("t-SNE implementation", TsneConfig, "backend"),
                                                 ("update mode", TsneConfig, "update"),
                                                 ("update mode", PcaConfig, "update")])
def test_cli_and_launchpad_offer_the_declared_options(title: str, config: type, field: str) -> None:
    choice = choices.CHOICES[title]
    assert _launchpad(config, field) == list(choice.options) == _cli(choice.flag)
    assert config.model_fields[field].default == choice.default
    for name, text in choice.options.items():  # the Launchpad's field says what each option does
        assert f"{name}: {text}" in config.model_fields[field].description


def test_a_new_grid_method_reaches_every_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(METHODS, "spiral", "a test method")
    assert "spiral" in _cli("--grid-method")
    assert "`spiral` | a test method" in choices.markdown_table()


def test_the_docs_table_is_the_generated_one() -> None:
    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    start, end = text.index(choices.BEGIN) + len(choices.BEGIN), text.index(choices.END)
    assert text[start:end].strip() == choices.markdown_table(), \
        "docs/configuration.md is stale: run `python -m cviz_assets.choices --update docs/configuration.md`"
