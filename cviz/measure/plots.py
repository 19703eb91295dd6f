"""Small PNG plots for asset metadata: a person judges a layout faster by looking at it."""

from __future__ import annotations

import base64
import io

import numpy as np


def _figure(width: float = 5.0, height: float = 3.2):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=90)
    return plt, fig, ax


def _png(plt, fig) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def explained_variance_png(ratio: np.ndarray) -> bytes:
    plt, fig, ax = _figure()
    ax.plot(np.arange(1, len(ratio) + 1), np.cumsum(ratio), color="#2a6f97")
    ax.set_xlabel("components")
    ax.set_ylabel("cumulative explained variance")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    return _png(plt, fig)


def scatter_png(points: np.ndarray, title: str = "") -> bytes:
    plt, fig, ax = _figure(4.2, 4.2)
    ax.scatter(points[:, 0], points[:, 1], s=max(1.0, 30.0 / np.sqrt(max(len(points), 1))), alpha=0.7, color="#2a6f97", linewidths=0)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return _png(plt, fig)


def data_uri_markdown(png_or_jpeg: bytes, alt: str, mime: str = "image/png") -> str:
    """Markdown showing the image inline in the Dagster UI; ``alt`` is escaped (it may come from data)."""
    safe_alt = "".join(ch for ch in alt if ch.isalnum() or ch in " -_.,")
    return f"![{safe_alt}](data:{mime};base64,{base64.b64encode(png_or_jpeg).decode('ascii')})"
