"""``cviz ...`` in a child process with the fake feature extractor and optional stage hooks, for tests of
what a run does when it is interrupted, killed or fails.

    python -m tests.bad_input.cli_child run -id NAME -imagedir DIR ...

Environment: ``CHILD_BLOCK=<stage>`` with ``CHILD_MARKER=<file>``: the first call of that stage
creates the marker and sleeps (up to ``CHILD_BLOCK_S``, 300 s) before it runs, in the run's main
thread, where a signal lands; ``CHILD_FAIL_ONCE=<stage>``: the first call of that stage raises a
transient ``OSError`` (a retry then succeeds); ``CHILD_BLOCK=register``: the command blocks right after it
registered the collection, before the run starts; ``CHILD_GO=<file>``: a block ends when that file
exists. The model resource returns the fake extractor of
tests/bad_input/stages.py, so no network, TensorFlow or model file is involved.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path


def _hook_stages() -> None:
    from cviz.stages import registry

    block, fail = os.environ.get("CHILD_BLOCK"), os.environ.get("CHILD_FAIL_ONCE")
    if block == "register":
        _hook_register()
        block = None
    for stage in {s for s in (block, fail) if s}:
        real = getattr(registry, f"stage_{stage}")
        calls = {"n": 0}

        def hooked(*args, _real=real, _stage=stage, _calls=calls, **kwargs):  # noqa: ANN002, ANN003, ANN202
            _calls["n"] += 1
            if _calls["n"] == 1 and _stage == fail:
                raise OSError(5, f"Input/output error (test: {_stage} fails once)")
            if _calls["n"] == 1 and _stage == block:
                Path(os.environ["CHILD_MARKER"]).write_text(f"{os.getpid()}\n")
                _wait()
            return _real(*args, **kwargs)

        setattr(registry, f"stage_{stage}", hooked)


def _wait() -> None:
    deadline = time.time() + float(os.environ.get("CHILD_BLOCK_S", "300"))
    go = os.environ.get("CHILD_GO")
    while time.time() < deadline and not (go and os.path.exists(go)):
        time.sleep(0.05)


def _hook_register() -> None:
    from cviz_assets import register

    real = register.register_config

    def hooked(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        config = real(*args, **kwargs)
        Path(os.environ["CHILD_MARKER"]).write_text(f"{os.getpid()}\n")
        _wait()
        return config

    register.register_config = hooked


def main(argv: list[str]) -> int:
    # A test runner started in the background inherits SIGINT ignored; a terminal's Ctrl-C is not.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from cviz_resources.model import FeatureModelResource
    from tests.bad_input.stages import FakeExtractor

    FeatureModelResource.get = lambda self, cache_dir=None: FakeExtractor()  # type: ignore[method-assign]
    _hook_stages()
    from cviz_assets.cli import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
