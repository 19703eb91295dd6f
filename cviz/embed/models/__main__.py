"""``python -m cviz.embed.models SIZE WEIGHTS CACHE_DIR [PRECISION]``: convert (and cache) Lite0 for LiteRT.

Run as a child process by :func:`cviz.embed.models.load_extractor` (``convert_in_child``), so the
calling process never imports TensorFlow.
"""

import sys

from cviz.embed.models import load_extractor

if __name__ == "__main__":  # (importing the module, as the purity test does, runs nothing)
    load_extractor(input_size=int(sys.argv[1]), weights=sys.argv[2], cache_dir=sys.argv[3], backend="litert",
                   precision=sys.argv[4] if len(sys.argv) > 4 else "float32")
