"""What ``cviz run`` says about a run: its progress while it runs (read from the instance's event
log, and live bars of the long stages), and afterwards what failed, first.

The last line of a failed run names the first failed step with its error, else the failed blocking
(ERROR) checks; WARN checks are printed as warnings only, since real collections usually trip them.
"""

from __future__ import annotations

import sys

def failed_checks(result, severity: str = "ERROR") -> list[str]:
    """'check <name> on <asset> failed: <summary>' for each failed check of the run of this severity
    (ERROR checks are blocking: nothing below them published; WARN checks leave the run green)."""
    out = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            ev = event.event_specific_data
            if not ev.passed and getattr(ev.severity, "value", str(ev.severity)) == severity:
                summary = ev.description or (ev.metadata.get("summary").value if ev.metadata.get("summary") else "")
                out.append(f"check {ev.check_name} on {ev.asset_key.to_user_string()} failed: {summary}")
    return out


def step_error(event) -> str | None:  # noqa: ANN001 - a STEP_FAILURE DagsterEvent
    """'<step>: <its own error>' (a user error's words; an exception's last line, through Dagster's wrappers)."""
    user = event.step_failure_data.user_failure_data
    if user is not None and user.description:  # a user error (bad CSV, no usable image): its own words
        return f"{event.step_key}: {user.description.strip()}"
    err = event.step_failure_data.error
    if err is None:
        return None
    while err.cause is not None and err.cls_name in ("DagsterExecutionStepExecutionError", "RetryRequestedFromPolicy"):
        err = err.cause
    if err.cls_name == "RetryRequestedFromPolicy" and err.context is not None:
        err = err.context
    return f"{event.step_key}: {err.message.strip().splitlines()[-1] if err.message.strip() else err.cls_name}"


def first_error(result) -> str:
    """What failed, first: the first failed step with its error, else the failed ERROR checks (which
    kept the run from publishing). WARN checks never fail a run: ``warnings`` prints them apart."""
    # A blocking check that fails also fails its step ("<asset>_<check>: <asset>: <check>"): its
    # evaluation, with the check's own summary, says more.
    check_steps = {e.step_key for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION" and not e.event_specific_data.passed}
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_key not in check_steps:
            line = step_error(event)
            if line:
                return line
    checks = failed_checks(result, "ERROR")
    if checks:
        return "; ".join(checks) + "; nothing was published (the previous map, if any, stays live)"
    return "the run failed (see the Dagster UI for details)"


def warnings(result) -> list[str]:
    return [f"cviz: warning: {line}" for line in failed_checks(result, "WARN")]


def interrupted(result) -> bool:
    """The run was stopped by SIGINT/SIGTERM (a step ended as interrupted, or the run did)."""
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data is not None:
            if getattr(event.step_failure_data.error_source, "value", "") == "INTERRUPT":
                return True
        if event.event_type_value in ("PIPELINE_FAILURE", "RUN_FAILURE", "PIPELINE_CANCELED", "RUN_CANCELED"):
            reason = getattr(event.event_specific_data, "failure_reason", None)
            if event.event_type_value.endswith("CANCELED") or getattr(reason, "value", "") == "UNEXPECTED_TERMINATION":
                return True
    return False


class RunProgress:
    """Prints each stage as it is materialized, read from the instance's event log (real time)."""

    def __init__(self, instance, run_id: str) -> None:
        import threading

        self.instance, self.run_id, self.seen = instance, run_id, 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "RunProgress":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._print_new()

    def _loop(self) -> None:
        while not self.stop.wait(0.5):
            try:
                self._print_new()
            except Exception:  # progress is best effort; the run's result is what counts
                pass

    def _print_new(self) -> None:
        records = self.instance.all_logs(self.run_id)
        for record in records[self.seen:]:
            event = record.dagster_event
            if event is None:
                continue
            if event.event_type_value == "ASSET_MATERIALIZATION":
                mat = event.step_materialization_data.materialization
                meta = mat.metadata
                if isinstance(getattr(meta.get("skipped"), "value", None), str):  # cviz.stages.stamps: unchanged
                    print(f"cviz:   {mat.asset_key.to_user_string():<14} skipped ({meta['skipped'].value})", flush=True)
                    continue
                bits = [f"{k}={meta[k].value}" for k in ("items", "usable", "skipped", "cache_hits", "images_per_s", "seconds") if k in meta]
                print(f"cviz:   {mat.asset_key.to_user_string():<14} done  " + " ".join(bits), flush=True)
            elif event.event_type_value == "STEP_START":
                print(f"cviz:   {event.step_key:<14} ...", flush=True)
        self.seen = len(records)


class StageBars:
    """Live progress of the long stages (cviz.stages.progress): a tqdm bar per stage on a terminal, one
    line per ~10% otherwise (logs, CI), so a 2-minute features step is never silent."""

    def __init__(self, stream=None) -> None:  # noqa: ANN001
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.bars: dict[str, object] = {}
        self.steps: dict[str, int] = {}

    def __call__(self, u) -> None:  # noqa: ANN001 - a cviz.stages.progress.Update
        if self.tty:
            from tqdm import tqdm

            bar = self.bars.get(u.stage)
            if bar is None:
                bar = self.bars[u.stage] = tqdm(total=u.total, desc=f"cviz:   {u.stage:<14}", unit=f" {u.unit}",
                                                file=self.stream, leave=True, dynamic_ncols=True)
            bar.update(u.done - bar.n)
            if u.done >= u.total:
                bar.close()
            return
        step = int(10 * u.done / u.total) if u.total else 10
        if step > self.steps.get(u.stage, 0):
            self.steps[u.stage] = step
            print(f"cviz:   {u.line()}", file=self.stream, flush=True)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
