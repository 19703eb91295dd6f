"""cviz run's "time by step" line: steps, checks and the time outside any step, from the event log."""

from __future__ import annotations

import pytest

from cviz_assets.step_times import StepEvent, step_times


def _events() -> list[StepEvent]:
    e = StepEvent
    return [
        e(100.0, None, "RUN_START"),
        e(100.5, "images", "STEP_START"), e(102.0, "images", "STEP_SUCCESS"),
        e(102.2, "images_complete", "STEP_START"), e(102.3, "images_complete", "ASSET_CHECK_EVALUATION"),
        e(102.5, "images_complete", "STEP_SUCCESS"),
        e(103.0, "features", "STEP_START"), e(104.0, "features", "ASSET_MATERIALIZATION"),
        e(107.0, "features", "STEP_SUCCESS"),
        e(107.5, "publish", "STEP_START"), e(107.6, "publish", "STEP_SKIPPED"),
        e(108.0, None, "RUN_SUCCESS"),
    ]


def test_steps_checks_and_outside_time_add_up_to_the_run() -> None:
    t = step_times(_events(), check_steps={"images_complete"})
    assert t.steps == pytest.approx({"images": 1.5, "features": 4.0, "publish": 0.1})
    assert t.checks == pytest.approx({"images_complete": 0.3})
    assert t.total == pytest.approx(8.0)
    assert t.outside_steps == pytest.approx(8.0 - 1.5 - 4.0 - 0.1 - 0.3)
    line = t.line()
    assert line.startswith("time by step (s, of 8.0): features 4.0, images 1.5")  # largest first
    assert "1 checks 0.3" in line and "outside steps 2.1" in line


def test_a_step_without_an_end_event_is_not_counted() -> None:
    t = step_times([StepEvent(1.0, "tsne", "STEP_START"), StepEvent(5.0, None, "RUN_FAILURE")])
    assert t.steps == {} and t.total == pytest.approx(4.0)
