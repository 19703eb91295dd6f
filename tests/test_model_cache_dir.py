"""The converted model is kept where every storage root of a machine finds it (cviz.embed.models.cache_dir)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cviz.embed.models.cache_dir import model_cache_dir
from cviz.stages import registry
from cviz.storage import open_storage

ENV = "CVIZ_MODEL_CACHE"


def test_the_setting_wins_over_the_storage_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(ENV, str(tmp_path / "shared"))
    assert model_cache_dir(str(tmp_path / "root" / "cache" / "models")) == str(tmp_path / "shared")
    assert registry.model_cache_dir(open_storage(str(tmp_path / "root"))) == str(tmp_path / "shared")


def test_a_local_root_keeps_it_under_cache_models(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV, raising=False)
    got = Path(registry.model_cache_dir(open_storage(str(tmp_path / "root"))))
    assert got == (tmp_path / "root" / "cache" / "models").resolve() or got == tmp_path / "root" / "cache" / "models"


def test_an_object_store_root_uses_the_users_cache_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No local folder to keep it in: before, an S3 deployment converted the model in every run."""
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert model_cache_dir(None) == str(tmp_path / "xdg" / "cviz" / "models")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert model_cache_dir(None) == str(tmp_path / "home" / ".cache" / "cviz" / "models")
