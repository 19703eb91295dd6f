"""cviz's metadata CSV reader (stdlib csv) against pandas.read_csv on the messy-CSV cases of tests/test_bad_csv.py.

Outcome per case (read or refused, and what the reader says) and seconds per parse, best of 3.
pandas is configured as the issue suggests: dtype=str, keep_default_na=False, encoding_errors,
UTF-16 by BOM. Run: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_csv_reader.py`` (prints JSON).
"""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

from cviz.ingest.metadata_csv import parse_metadata

IMAGEPLOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "imageplot" / "metadata.csv"


def cases() -> dict[str, bytes]:
    rows = "".join(f"img{i}.jpg,Titel Dürer {i},1{i % 900:03d},dept {i % 7}\n" for i in range(13_000))
    base = "filename,title,date,department\n" + rows
    out = {
        "13k_rows_utf8": base.encode(),
        "200kb_field": ("filename,description\na.jpg,\"" + "x" * 200_000 + "\"\n").encode(),
        "utf16_bom": base.encode("utf-16"),
        "utf8_one_stray_byte": base.encode() + b"bad.jpg,caf\xe9,1900,x\n",
        "cp1252": base.encode("cp1252"),
        "wide_20k_columns": ("filename," + ",".join(f"c{i}" for i in range(20_000)) + "\n" +
                             "".join(f"img{r}.jpg," + ",".join("v" for _ in range(20_000)) + "\n" for r in range(6))).encode(),
    }
    if IMAGEPLOT.exists():
        out["imageplot_904"] = IMAGEPLOT.read_bytes()
    return out


def with_cviz(data: bytes) -> tuple[str, int]:
    t = parse_metadata(data, "m.csv")
    return f"read as {t.encoding}", len(t.rows)


def with_pandas(data: bytes) -> tuple[str, int]:
    import pandas as pd

    enc = "utf-16" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8"
    df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, encoding=enc, encoding_errors="replace")
    return f"read as {enc} (errors replaced, not counted)", len(df)


def timed(fn, data: bytes) -> dict:
    best, outcome = float("inf"), None
    for _ in range(3):
        t0 = time.perf_counter()
        try:
            outcome = fn(data)
        except Exception as exc:  # noqa: BLE001 - the outcome is what we report
            outcome = (f"refused: {type(exc).__name__}: {str(exc)[:120]}", 0)
        best = min(best, time.perf_counter() - t0)
    return {"outcome": outcome[0], "rows": outcome[1], "seconds": round(best, 4)}


def main() -> None:
    load = os.getloadavg()
    report = {"load_avg": [round(x, 2) for x in load], "cases": {}}
    for name, data in cases().items():
        report["cases"][name] = {"cviz_stdlib": timed(with_cviz, data), "pandas": timed(with_pandas, data)}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
