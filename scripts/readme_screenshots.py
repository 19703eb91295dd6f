"""The README's two pictures: the met-sample map in the viewer and the asset graph in the Dagster UI.

Needs a storage root where met-sample is built (``make run`` leaves one in ./cviz_data). Starts the
viewer (viewer/server.js) and a Dagster webserver over workspace.yaml on loopback, photographs both
with Playwright driving Debian's headless chromium, and writes docs/img/map.png and
docs/img/asset-graph.png.  Usage: PYTHONPATH=$PWD .venv/bin/python scripts/readme_screenshots.py [ROOT]
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, timeout_s: float = 180) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5).close()
            return
        except OSError:
            time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout_s:.0f} s")


def _skip_dialog(page) -> None:  # noqa: ANN001 - a Playwright page
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.first.wait_for(timeout=10_000)
        skip.first.click()
    except Exception:  # no first-visit dialog this time
        pass


def main(root: str) -> int:
    from playwright.sync_api import sync_playwright

    out = REPO / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    vport, uport = _port(), _port()
    env = {**os.environ, "CVIZ_STORAGE_ROOT": root, "CVIZ_VIEWER_PORT": str(vport)}
    with tempfile.TemporaryDirectory(prefix="cviz-shot-") as home:
        shutil.copyfile(REPO / "deploy" / "dagster.yaml", Path(home) / "dagster.yaml")
        viewer = subprocess.Popen(["node", "server.js"], cwd=REPO / "viewer", env=env, stdout=subprocess.DEVNULL)
        ui = subprocess.Popen([sys.executable, "-m", "dagster_webserver", "-w", str(REPO / "workspace.yaml"),
                               "-h", "127.0.0.1", "-p", str(uport)], env={**env, "DAGSTER_HOME": home},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(f"http://127.0.0.1:{vport}/")
            _wait(f"http://127.0.0.1:{uport}/server_info")
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
                page = browser.new_page(viewport={"width": 1280, "height": 760})
                page.goto(f"http://127.0.0.1:{vport}/?c=met-sample")
                page.wait_for_timeout(6000)  # tiles, region labels, the navigator's fade
                page.screenshot(path=str(out / "map.png"))
                page = browser.new_page(viewport={"width": 1400, "height": 620})
                page.goto(f"http://127.0.0.1:{uport}/asset-groups/collection_map", timeout=180_000)
                _skip_dialog(page)
                page.get_by_text("metadata_json").first.wait_for(timeout=180_000)
                page.wait_for_timeout(8000)  # the graph's layout animation
                page.screenshot(path=str(out / "asset-graph.png"))
                browser.close()
        finally:
            for proc in (viewer, ui):
                proc.terminate()
                proc.wait(timeout=30)
    print(f"wrote {out / 'map.png'} and {out / 'asset-graph.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else str(REPO / "cviz_data")))
