"""One settings module: every ``CVIZ_*`` variable declared once, read through it,
and the table in docs/configuration.md generated from it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from cviz import settings as settings_mod
from cviz.settings import EXTERNAL, Settings, SettingsError, markdown_table, rows, settings

REPO = Path(__file__).resolve().parents[1]
NAME = re.compile(r"\bCVIZ_[A-Z][A-Z0-9_]*[A-Z0-9]\b")
PY_PACKAGES = ("cviz", "cviz_assets", "cviz_resources")
OUTSIDE_PYTHON = ("scripts", "deploy", "viewer/server.js", "Makefile")  # deploy/ holds dagster.yaml


def _files(*roots: str) -> list[Path]:
    out: list[Path] = []
    for root in roots:
        p = REPO / root
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out.extend(f for f in p.rglob("*") if f.is_file() and f.suffix in (".py", ".sh", ".yaml", ".yml", ".js", "")
                       and "node_modules" not in f.parts and "__pycache__" not in f.parts)
    return out


def _readme_table() -> str:
    text = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    start, end = text.index(settings_mod.BEGIN) + len(settings_mod.BEGIN) + 1, text.index(settings_mod.END)
    return text[start:end]


def test_readme_table_is_the_generated_one() -> None:
    assert _readme_table() == markdown_table(), "docs/configuration.md is stale: run `python -m cviz.settings --update docs/configuration.md`"


def test_every_variable_the_code_names_is_documented() -> None:
    documented = {name for name, _, _ in rows()}
    named: dict[str, str] = {}
    for f in _files(*PY_PACKAGES, *OUTSIDE_PYTHON):
        for name in NAME.findall(f.read_text(encoding="utf-8", errors="replace")):
            named.setdefault(name, str(f.relative_to(REPO)))
    undocumented = {n: f for n, f in named.items() if n not in documented}
    assert not undocumented, f"CVIZ_* variables not in cviz/settings.py: {undocumented}"


def test_no_row_is_stale() -> None:
    """Each Settings field is read by some code; each EXTERNAL variable is used outside Python."""
    code = "\n".join(f.read_text(encoding="utf-8") for f in _files(*PY_PACKAGES) if f.name != "settings.py")
    unread = [f.name for f in dataclasses.fields(Settings) if not re.search(rf"\.{f.name}\b", code)]
    assert not unread, f"settings nothing reads (remove them, and their rows in docs/configuration.md): {unread}"
    outside = "\n".join(f.read_text(encoding="utf-8", errors="replace") for f in _files(*OUTSIDE_PYTHON))
    unused = [name for name, _, _ in EXTERNAL if name not in outside]
    assert not unused, f"EXTERNAL variables no script, deploy file or server uses: {unused}"


def test_no_code_reads_a_cviz_variable_behind_the_settings_module() -> None:
    read = re.compile(r"(environ(\.get)?\s*[\(\[]\s*|getenv\(\s*)[\"']CVIZ_")
    offenders = [f"{f.relative_to(REPO)}:{i}" for f in _files(*PY_PACKAGES) if f.name != "settings.py"
                 for i, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1) if read.search(line)]
    assert not offenders, f"read CVIZ_* through cviz.settings.settings(): {offenders}"


def test_defaults_parsing_and_errors_name_the_variable() -> None:
    s = Settings.from_env({})
    assert (s.storage_root, s.lock_wait_s, s.storage_retries, s.recheck_schedule, s.s3_endpoint_url) == \
        ("cviz_data", 30.0, 5, False, None)
    s = Settings.from_env({"CVIZ_LOCK_WAIT_S": "2.5", "CVIZ_STORAGE_RETRIES": "7", "CVIZ_RECHECK_SCHEDULE": "on",
                           "CVIZ_SMTP_PORT": "25", "CVIZ_PRELOAD_TENSORFLOW": "0", "CVIZ_DROP_ROOT": " "})
    assert (s.lock_wait_s, s.storage_retries, s.recheck_schedule, s.smtp_port, s.preload_tensorflow, s.drop_root) == \
        (2.5, 7, True, 25, False, None)
    with pytest.raises(SettingsError, match=r"CVIZ_LOCK_STALE_S='soon' is not a number"):
        Settings.from_env({"CVIZ_LOCK_STALE_S": "soon"})
    with pytest.raises(SettingsError, match=r"CVIZ_FEATURE_CHUNK='5k' is not a number"):
        Settings.from_env({"CVIZ_FEATURE_CHUNK": "5k"})
    with pytest.raises(SettingsError, match=r"CVIZ_RECHECK_SCHEDULE='maybe' is not on/off"):
        Settings.from_env({"CVIZ_RECHECK_SCHEDULE": "maybe"})


def test_the_accessor_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CVIZ_LOCK_WAIT_S", raising=False)
    assert settings().lock_wait_s == 30.0
    assert settings() is settings()  # parsed once per environment
    monkeypatch.setenv("CVIZ_LOCK_WAIT_S", "4")
    assert settings().lock_wait_s == 4.0
    monkeypatch.setenv("CVIZ_LOCK_WAIT_S", "never")
    with pytest.raises(SettingsError, match="CVIZ_LOCK_WAIT_S"):
        settings()


def test_code_sees_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two readers converted from their own env parsing: the lock and the chunk size."""
    from cviz.embed import chunks
    from cviz.stages import run_lock
    from cviz.storage import open_storage

    monkeypatch.setenv("CVIZ_LOCK_STALE_S", "3")
    monkeypatch.setenv("CVIZ_FEATURE_CHUNK", "17")
    assert run_lock.CollectionLock(open_storage(str(tmp_path)), "c", "run").stale_s == 3.0
    assert chunks.chunk_items() == 17
