"""Where a run's time went: seconds per step from the run's event log, and what lay outside steps.

``cviz run`` prints this after a run so that a slow update is explained, not guessed at: each
asset step's wall time (start to end event), the asset checks together, and the time outside any
step (Dagster's planning and event writing, resource set-up, Python start-up excluded).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

STEP_ENDS = ("STEP_SUCCESS", "STEP_FAILURE", "STEP_SKIPPED")


@dataclass(frozen=True)
class StepEvent:
    """One event of the run's log that matters here: its time, step and Dagster event type."""

    timestamp: float
    step_key: str | None
    event_type: str


@dataclass(frozen=True)
class StepTimes:
    steps: dict[str, float]  # asset step -> wall seconds, in start order
    checks: dict[str, float]  # asset check step -> wall seconds
    total: float  # first event to last event

    @property
    def outside_steps(self) -> float:
        """Run time in no step at all (steps run one at a time in the in-process executor)."""
        return max(0.0, self.total - sum(self.steps.values()) - sum(self.checks.values()))

    def line(self, top: int = 8) -> str:
        largest = sorted(self.steps.items(), key=lambda kv: -kv[1])[:top]
        parts = [f"{k} {v:.1f}" for k, v in largest]
        if self.checks:
            parts.append(f"{len(self.checks)} checks {sum(self.checks.values()):.1f}")
        parts.append(f"outside steps {self.outside_steps:.1f}")
        return f"time by step (s, of {self.total:.1f}): " + ", ".join(parts)


def step_times(events: Iterable[StepEvent], check_steps: Iterable[str] = ()) -> StepTimes:
    """Pair each step's STEP_START with its end event; steps named in ``check_steps`` are checks."""
    checks_named = set(check_steps)
    started: dict[str, float] = {}
    steps: dict[str, float] = {}
    checks: dict[str, float] = {}
    first = last = None
    for e in events:
        first = e.timestamp if first is None else min(first, e.timestamp)
        last = e.timestamp if last is None else max(last, e.timestamp)
        if e.step_key is None:
            continue
        if e.event_type == "STEP_START":
            started[e.step_key] = e.timestamp
        elif e.event_type in STEP_ENDS and e.step_key in started:
            seconds = e.timestamp - started.pop(e.step_key)
            (checks if e.step_key in checks_named else steps)[e.step_key] = seconds
    return StepTimes(steps, checks, (last - first) if first is not None else 0.0)


def from_records(records: Iterable) -> StepTimes:
    """:func:`step_times` of Dagster ``EventLogEntry`` records (``instance.all_logs(run_id)``); a
    step that reported an asset check evaluation is a check step."""
    events = [StepEvent(r.timestamp, r.dagster_event.step_key, r.dagster_event.event_type_value)
              for r in records if r.dagster_event is not None]
    checks = {e.step_key for e in events if e.event_type == "ASSET_CHECK_EVALUATION"}
    return step_times(events, checks)
