"""Long work is never silent: ~10 log lines per stage, a bar on a terminal, lines in a log file."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import dagster as dg

from cviz.stages import progress
from cviz.stages.progress import Progress, Update
from cviz_assets.run_output import StageBars as _Bars
from tests.conftest import materialize_collection
from tests.test_cli import run_cli


def test_progress_logs_about_every_tenth_with_rate_and_time_left() -> None:
    lines: list[str] = []
    seen: list[Update] = []
    progress.add_listener(seen.append)
    try:
        p = Progress("features", log=lines.append)
        for done in range(0, 1001, 8):
            p(min(done, 1000), 1000)
        p(1000, 1000)
    finally:
        progress.remove_listener(seen.append)
    assert 9 <= len(lines) <= 11, lines
    assert lines[-1].startswith("features: 1,000/1,000 images (100%)")
    assert any(re.search(r"\(50%\), [\d,]+ images/s, [\d,]+ s left", line) for line in lines), lines
    assert len(seen) == 127 and seen[-1].done == 1000  # listeners get every update


def test_bars_print_a_line_per_tenth_when_not_a_terminal() -> None:
    out = io.StringIO()
    bars = _Bars(out)
    assert not bars.tty
    for done in range(1, 501):
        bars(Update("mosaic", done, 500, 100.0, (500 - done) / 100.0, "cells"))
    bars.close()
    lines = out.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("cviz:   mosaic: 500/500 cells (100%)"), lines


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bars_draw_a_bar_on_a_terminal() -> None:
    out = _Tty()
    bars = _Bars(out)
    for done in range(1, 201):
        bars(Update("features", done, 200, 50.0, None))
    bars.close()
    text = out.getvalue()
    assert "\r" in text and "200/200" in text and "features" in text


def test_features_and_mosaic_steps_log_progress(tmp_path: Path, met_sample_dir: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for p in sorted((met_sample_dir / "images").iterdir())[:20]:
        shutil.copyfile(p, src / p.name)
    instance = dg.DagsterInstance.ephemeral()
    result = materialize_collection(tmp_path / "root", {"name": "prog", "images": str(src)}, instance=instance)
    messages = [r.user_message for r in instance.all_logs(result.run_id) if r.dagster_event is None]
    feats = [m for m in messages if m.startswith("features: ") and "images (" in m]
    cells = [m for m in messages if m.startswith("mosaic: ") and "cells (" in m]
    # features report per batch of 32: one line for 20 images (the tenths are tested above)
    assert 1 <= len(feats) <= 11 and feats[-1].startswith("features: 20/20 images (100%)"), feats
    assert 5 <= len(cells) <= 11 and cells[-1].startswith("mosaic: 20/20 cells (100%)"), cells


def test_cviz_run_prints_progress_lines_when_not_a_terminal(tmp_path: Path, met_sample_dir: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for p in sorted((met_sample_dir / "images").iterdir())[:12]:
        shutil.copyfile(p, src / p.name)
    out = run_cli(["run", "-id", "bars", "-imagedir", str(src)], tmp_path / "root")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "cviz:   features: 12/12 images (100%)" in out.stderr, out.stderr[-3000:]
    assert "cviz:   mosaic: 12/12 cells (100%)" in out.stderr
