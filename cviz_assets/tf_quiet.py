"""Import TensorFlow without its start-up chatter, keeping everything else it prints.

TensorFlow 2.21 prints start-up lines through absl before its logging is set up, so
``TF_CPP_MIN_LOG_LEVEL`` does not reach them ("oneDNN custom operations are on", "All log messages
before absl::InitializeLog()"); ``TF_ENABLE_ONEDNN_OPTS=0`` would silence them but costs a third of
the CNN's speed here (16.9 against 10.7 images/s, Lite0 batch 32). So the import runs with file
descriptor 2 captured and only those known lines are dropped; anything else it writes (a real
warning) is written back to stderr. Used where a run imports TensorFlow before its steps start
(cviz_assets/preload.py, cviz_assets/executors.py), outside any step's captured log.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile

STARTUP_CHATTER = re.compile(
    r"(All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|port\.cc:\d+\] oneDNN custom operations are on"
    r"|cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized"
    r"|^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.$)"
)


def filter_startup_chatter(text: str) -> str:
    """``text`` without TensorFlow's known start-up lines; every other line kept, in order."""
    return "".join(line for line in text.splitlines(keepends=True) if not STARTUP_CHATTER.search(line))


def quiet_import(module: str) -> None:
    """Import ``module`` with fd 2 captured to a temporary file, then write back what is not chatter.
    A missing module (a deployment without TensorFlow) is not an error here: nothing to preload."""
    if module in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            __import__(module)
        except ImportError:
            pass
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            rest = filter_startup_chatter(captured.read(1 << 20).decode("utf-8", "replace"))
            if rest:
                sys.stderr.write(rest)
                sys.stderr.flush()
