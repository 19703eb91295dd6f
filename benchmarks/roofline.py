"""How close LiteRT's Lite0 inference is to what this CPU can compute at all (a compute roofline).

Why: 300 images/s from Lite0 on two cores was the target. Whether that is reachable is
arithmetic, not tuning: images/s x multiply-adds per image must stay below the multiply-adds per
second the cores can do. This module counts the model's multiply-adds from the converted graph
itself (every CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED op, from its weight and output tensor
shapes, read off an interpreter without the XNNPACK delegate so the ops stay visible), and measures
two ceilings on this machine:

- ``peak``: the FMA peak the CPU flags allow (cores x clock x FMA units x SIMD lanes; AVX2 with FMA:
  2 units x 8 float32 lanes), the number no kernel exceeds;
- ``sgemm``: what OpenBLAS (numpy's ``matmul``) actually sustains on a large float32 matrix product
  with every core, a practical ceiling: a 1x1 convolution is exactly such a product, and XNNPACK's
  are at best as fast.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/roofline.py          # also bench_features.py --profile
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np


def model_macs(model: bytes) -> dict[str, int]:
    """Multiply-adds per image of a batch-1 TFLite model, by op type (plus ``total``)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(model_content=model, experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    shapes = {t["index"]: tuple(int(v) for v in t["shape"]) for t in it.get_tensor_details()}
    macs: dict[str, int] = {}
    for op in it._get_ops_details():
        name = str(op["op_name"])
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        weight, out = shapes[int(op["inputs"][1])], shapes[int(op["outputs"][0])]
        if name == "CONV_2D":  # weight [out_c, kh, kw, in_c], output [1, oh, ow, out_c]
            n = out[1] * out[2] * out[3] * weight[1] * weight[2] * weight[3]
        elif name == "DEPTHWISE_CONV_2D":  # weight [1, kh, kw, c]
            n = out[1] * out[2] * out[3] * weight[1] * weight[2]
        else:  # weight [out, in]
            n = weight[0] * weight[1]
        macs[name] = macs.get(name, 0) + n
    macs["total"] = sum(macs.values())
    return macs


def cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    match = re.search(r"^flags\s*:\s*(.*)$", text, re.M)
    return set(match.group(1).split()) if match else set()


def clock_ghz() -> float | None:
    """Nominal clock from /proc/cpuinfo (the first core's ``cpu MHz``), None when unknown."""
    try:
        match = re.search(r"^cpu MHz\s*:\s*([\d.]+)", Path("/proc/cpuinfo").read_text(), re.M)
    except OSError:
        return None
    return float(match.group(1)) / 1e3 if match else None


def peak_gmacs(cores: int) -> float | None:
    """Theoretical float32 multiply-adds per second (G): cores x GHz x FMA units x SIMD lanes.
    Two FMA units per core on every x86 core with FMA3 that XNNPACK targets; 16 lanes with AVX-512."""
    ghz, flags = clock_ghz(), cpu_flags()
    if ghz is None or "fma" not in flags:
        return None
    lanes = 16 if "avx512f" in flags else 8
    return cores * ghz * 2 * lanes


def sgemm_gmacs(n: int = 2048, rounds: int = 5) -> float:
    """Best sustained float32 multiply-adds per second (G) of numpy's matmul (OpenBLAS, all cores)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
    a @ b  # warm-up: thread pool start, page faults
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return n**3 / best / 1e9


def report(model: bytes, infer_per_s: float | None = None, sgemm: float | None = None) -> dict:
    """The roofline figures, and (with a measured ``infer_per_s``) the fraction of each ceiling used.
    ``sgemm``: a figure measured earlier (measure it before another runtime's thread pools exist:
    TensorFlow's idle threads spinning after Keras ran halved it once)."""
    cores = len(os.sched_getaffinity(0))
    macs = model_macs(model)
    ghz, peak = clock_ghz(), peak_gmacs(cores)
    out: dict = {"macs_per_image": macs, "cores": cores, "clock_ghz": round(ghz, 2) if ghz else None,
                 "peak_gmacs": round(peak, 1) if peak else None, "sgemm_gmacs": round(sgemm or sgemm_gmacs(), 1)}
    g = macs["total"] / 1e9
    out["images_per_s_at_peak"] = round(out["peak_gmacs"] / g, 1) if out["peak_gmacs"] else None
    out["images_per_s_at_sgemm"] = round(out["sgemm_gmacs"] / g, 1)
    if infer_per_s:
        out["infer_per_s"] = infer_per_s
        out["gmacs_achieved"] = round(infer_per_s * g, 1)
        out["fraction_of_sgemm"] = round(infer_per_s * g / out["sgemm_gmacs"], 3)
    return out


def print_report(r: dict) -> None:
    m = r["macs_per_image"]
    print(f"\nroofline: Lite0 = {m['total'] / 1e6:.0f} M multiply-adds per image "
          f"({', '.join(f'{k} {v / 1e6:.0f} M' for k, v in m.items() if k != 'total')})")
    print(f"  CPU: {r['cores']} cores at {r['clock_ghz']} GHz (nominal; turbo may exceed it); FMA peak at that clock "
          f"{r['peak_gmacs']} GMAC/s -> {r['images_per_s_at_peak']} images/s")
    print(f"  numpy sgemm sustains {r['sgemm_gmacs']} GMAC/s -> {r['images_per_s_at_sgemm']} images/s if every op ran at sgemm speed")
    if "infer_per_s" in r:
        print(f"  LiteRT measured {r['infer_per_s']} images/s = {r['gmacs_achieved']} GMAC/s = "
              f"{r['fraction_of_sgemm']:.0%} of sgemm")


if __name__ == "__main__":
    import sys
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from cviz.embed.models import load_extractor

    fx = load_extractor(backend="litert", cache_dir=os.path.join(tempfile.gettempdir(), "cviz-bench-models"))
    x = np.random.default_rng(0).uniform(0, 255, (64, fx.input_size, fx.input_size, 3)).astype(np.float32)
    fx._forward(x[:4])
    t = time.perf_counter()
    fx._forward(x)
    rate = round(len(x) / (time.perf_counter() - t), 1)
    print_report(report(fx._forward.model, rate))
