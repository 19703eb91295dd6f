"""Screenshot of the Dagster UI's Automation page (sensors and the schedule) into test-artifacts/.

Starts a webserver and a daemon on loopback over workspace.yaml with a temporary instance (the
repository's dagster.yaml) and the daily re-check on, lets the daemon tick once, and photographs
the page with Playwright driving Debian's headless chromium.  PYTHONPATH=$PWD .venv/bin/python scripts/screenshot_automation.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.dagster_processes import Deployment  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]


def shoot(url: str, target: Path) -> None:
    """Playwright on Debian's chromium (never a downloaded browser): dismiss the first-visit
    community dialog, wait for the automations list, photograph."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 720})
        page.goto(url, timeout=120_000)
        page.get_by_text("daily_recheck").first.wait_for(timeout=120_000)
        skip = page.get_by_role("button", name="Skip")
        try:
            skip.first.wait_for(timeout=15_000)
            skip.first.click()
            skip.first.wait_for(state="hidden", timeout=15_000)
        except Exception:  # no dialog this time
            pass
        page.wait_for_timeout(3000)
        page.screenshot(path=str(target))
        browser.close()


def main() -> int:
    out = REPO / "test-artifacts"
    out.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cviz-shot-") as tmp:
        home, storage = Path(tmp) / "home", Path(tmp) / "storage"
        home.mkdir()
        shutil.copyfile(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
        dep = Deployment(home, storage, env={"CVIZ_RECHECK_SCHEDULE": "on"}).start()
        try:
            dep.wait_ready()
            time.sleep(150)  # daemon start-up, then a tick for each sensor (they tick every 30-60 s)
            target = out / "dagster-automation.png"
            shoot(f"{dep.url}/automation", target)
            print(target)
        finally:
            dep.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
