"""A collection run in a child process that stops at a chosen write, for kill -9 and concurrency tests.

    python -m tests.bad_input.killable ROOT NAME MODE STAGES...

MODE is ``stages`` (cviz.stages.registry stage functions with the fake extractor) or ``dagster``
(``dg.materialize`` of those assets, as the UI would run them). The child stops when, during stage
``$BLOCK_STAGE``, it is about to write the ``$BLOCK_NTH``-th file whose path contains
``$BLOCK_MATCH``: it leaves half of that file in a temporary file (as a real write cut short by
kill -9 would), creates ``$BLOCK_MARKER``, and then either sleeps until the parent kills it, or,
when ``$BLOCK_GO`` is set, waits for that file to appear and carries on with the real write.
Nothing here is imported by cviz itself: the hook is installed by monkeypatching in the child.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from cviz.stages import registry
from cviz.storage import Storage, open_storage


def install_hook() -> None:
    stage, match = os.environ["BLOCK_STAGE"], os.environ["BLOCK_MATCH"]
    nth, marker, go = int(os.environ.get("BLOCK_NTH", "1")), Path(os.environ["BLOCK_MARKER"]), os.environ.get("BLOCK_GO")
    state = {"active": False, "count": 0}
    lock = threading.Lock()

    real_stage = getattr(registry, f"stage_{stage}")

    def stage_wrapper(*args, **kwargs):
        state["active"] = True
        try:
            return real_stage(*args, **kwargs)
        finally:
            state["active"] = False

    setattr(registry, f"stage_{stage}", stage_wrapper)
    real_write = Storage.write_bytes

    def write_bytes(self: Storage, rel: str, data: bytes) -> None:
        if state["active"] and match in rel:
            with lock:
                state["count"] += 1
                hit = state["count"] == nth
            if hit:
                if go is None and self.os_path(rel) is not None:
                    path = self.path(rel)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    fd, _ = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
                    os.write(fd, data[: len(data) // 2])
                    os.fsync(fd)
                marker.write_text(f"{os.getpid()} {rel}\n")
                if go is None:
                    while True:
                        time.sleep(60)  # the parent kills us here
                while not Path(go).exists():
                    time.sleep(0.05)
        return real_write(self, rel, data)

    Storage.write_bytes = write_bytes


def main(argv: list[str]) -> int:
    root, name, mode, stages = argv[0], argv[1], argv[2], argv[3:]
    if os.environ.get("BLOCK_STAGE"):
        install_hook()
    if mode == "stages":
        from tests.bad_input.stages import run_all

        run_all(open_storage(root), name, stages=stages)
        return 0
    import dagster as dg

    from cviz_assets import assets
    from tests.conftest import resources

    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("collections", [name])
    selected = [getattr(assets, s) for s in stages]
    result = dg.materialize(selected, partition_key=name, instance=instance, resources=resources(root),
                            raise_on_error=False)
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            print(f"STEP_FAILURE {event.step_key}: {event.step_failure_data.error.message}", flush=True)
    print(f"RUN_ID {result.run_id}", flush=True)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
