"""Imported once per run by the multiprocess executor's forkserver (cviz_assets/executors.py).

Every step of a run is forked from that server, so what is imported here is paid once per run
instead of once per step: the definitions (Dagster, the stages) and, when the ``features`` step will
load a Keras model (``features_import_tensorflow``), TensorFlow (importing it costs seconds, and a
forked step gets it free), without its start-up chatter (cviz_assets/tf_quiet.py).
``CVIZ_PRELOAD_TENSORFLOW=0`` skips the TensorFlow import.
"""

from __future__ import annotations

import cviz_assets.definitions  # noqa: F401  (the point: import once, fork many)
from cviz.settings import settings
from cviz_assets.executors import features_import_tensorflow
from cviz_assets.tf_quiet import quiet_import

if settings().preload_tensorflow and features_import_tensorflow():  # Lite0 on LiteRT needs no TensorFlow here
    quiet_import("tensorflow")
