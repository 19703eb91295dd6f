"""The webhook alert sink against a real HTTP server on loopback: delivery, retry on 500, a
bounded wait on a server that hangs (and the caller never waits), no secrets in the payload."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cviz.stages import alerts


class Receiver:
    """A loopback HTTP server recording every POST body; ``script`` gives the status per request
    (``"hang"`` sleeps past any client timeout before answering)."""

    def __init__(self, script: list[int | str] | None = None) -> None:
        self.script = list(script or [])
        self.bodies: list[dict] = []
        self.attempts = 0
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
                body = self.rfile.read(length)
                receiver.attempts += 1
                action = receiver.script.pop(0) if receiver.script else 200
                if action == "hang":
                    receiver.release.wait(10)  # bounded: the test sets it at teardown
                    action = 200
                if action == 200:
                    receiver.bodies.append(json.loads(body))
                self.send_response(int(action))
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made: list[Receiver] = []

    def make(script: list[int | str] | None = None) -> Receiver:
        made.append(Receiver(script))
        return made[-1]

    yield make
    for r in made:
        r.close()


def record(**extra) -> dict:
    return alerts.alert_record("check_failure", "met-sample", "1 tile missing", asset="dzi", check="pyramid_complete",
                               offending_count=1, offending_items=[{"problem": "tile missing", "tile": "8/0_3.jpg"}],
                               run_url="http://ui/runs/abc", **extra)


def test_delivers_one_json_post_per_alert(receiver, tmp_path: Path, monkeypatch) -> None:
    r = receiver()
    monkeypatch.setenv("CVIZ_ALERT_WEBHOOK_URL", r.url)
    path = tmp_path / "alerts.jsonl"
    threads = alerts.send(str(path), record())
    for t in threads:
        t.join(10)
    [body] = r.bodies
    assert body["kind"] == "check_failure" and body["collection"] == "met-sample" and body["check"] == "pyramid_complete"
    assert body["offending_items"] == [{"problem": "tile missing", "tile": "8/0_3.jpg"}]
    assert "met-sample dzi:pyramid_complete: 1 tile missing" in body["text"]
    assert body["text"].endswith("(run: http://ui/runs/abc)") and "|run>" not in body["text"]  # Slack markup is Slack's
    [line] = path.read_text().splitlines()  # the file sink still has it
    assert json.loads(line)["check"] == "pyramid_complete"


def test_slack_format_posts_text_only(receiver, monkeypatch) -> None:
    r = receiver()
    monkeypatch.setenv("CVIZ_ALERT_WEBHOOK_URL", r.url)
    monkeypatch.setenv("CVIZ_ALERT_WEBHOOK_FORMAT", "slack")
    hook = alerts.webhook_from_env()
    assert hook.post(record()) == (True, "")
    assert r.bodies == [{"text": "cviz check failure: met-sample dzi:pyramid_complete: 1 tile missing <http://ui/runs/abc|run>"}]


def test_retries_on_500_then_delivers(receiver) -> None:
    r = receiver([500, 503])
    hook = alerts.Webhook(r.url, timeout_s=2, retries=3, backoff_s=0.05)
    assert hook.post(record()) == (True, "")
    assert r.attempts == 3 and len(r.bodies) == 1


def test_gives_up_after_retries_and_says_so_in_the_file(receiver, tmp_path: Path, monkeypatch) -> None:
    r = receiver([500] * 10)
    monkeypatch.setenv("CVIZ_ALERT_WEBHOOK_URL", r.url)
    monkeypatch.setenv("CVIZ_ALERT_WEBHOOK_RETRIES", "2")
    path = tmp_path / "alerts.jsonl"
    monkeypatch.setattr(alerts.Webhook, "backoff_s", 0.05)
    for t in alerts.send(str(path), record()):
        t.join(10)
    assert r.attempts == 3 and r.bodies == []
    kinds = [json.loads(line)["kind"] for line in path.read_text().splitlines()]
    assert kinds == ["check_failure", "alert_delivery_failed"]
    assert json.loads(path.read_text().splitlines()[1])["error"] == "HTTP 500"


def test_client_error_is_not_retried(receiver) -> None:
    r = receiver([400])
    assert alerts.Webhook(r.url, retries=3, backoff_s=0.05).post(record()) == (False, "HTTP 400")
    assert r.attempts == 1


def test_hanging_server_times_out_and_never_blocks_the_caller(receiver, tmp_path: Path, monkeypatch) -> None:
    r = receiver(["hang", "hang"])
    monkeypatch.setenv("CVIZ_ALERT_WEBHOOK_URL", r.url)
    monkeypatch.setenv("CVIZ_ALERT_WEBHOOK_TIMEOUT_S", "0.5")
    monkeypatch.setenv("CVIZ_ALERT_WEBHOOK_RETRIES", "1")
    monkeypatch.setattr(alerts.Webhook, "backoff_s", 0.05)
    path = tmp_path / "alerts.jsonl"
    started = time.monotonic()
    threads = alerts.send(str(path), record())
    assert time.monotonic() - started < 0.4  # the sensor goes on at once
    for t in threads:
        t.join(10)
        assert not t.is_alive()
    assert time.monotonic() - started < 5  # two tries of 0.5 s, not the server's 10 s
    failed = json.loads(path.read_text().splitlines()[-1])
    assert failed["kind"] == "alert_delivery_failed" and "timed out" in failed["error"]


def test_no_secrets_in_the_payload(receiver, tmp_path: Path, monkeypatch) -> None:
    r = receiver()
    secret = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("CVIZ_PG_PASSWORD", "pg-hunter2-pass")
    monkeypatch.setenv("CVIZ_ALERT_WEBHOOK_URL", r.url + "?token=hook-secret-123")
    rec = record(steps=[{"step": "features", "error": f"S3 said: bad signature for key {secret}"}],
                 source="s3://AKIDEXAMPLE:topsecretpw@bucket/prefix", db_password="pg-hunter2-pass")
    path = tmp_path / "alerts.jsonl"
    for t in alerts.send(str(path), rec):
        t.join(10)
    [body] = r.bodies
    raw = json.dumps(body) + path.read_text()
    for leaked in (secret, "pg-hunter2-pass", "topsecretpw", "AKIDEXAMPLE", "hook-secret-123"):
        assert leaked not in raw, leaked
    assert body["steps"][0]["error"] == "S3 said: bad signature for key [redacted]"
    assert body["source"] == "s3://[redacted]@bucket/prefix" and body["db_password"] == "[redacted]"


def test_bad_settings_are_named(monkeypatch) -> None:
    from cviz.errors import CvizError

    monkeypatch.setenv("CVIZ_ALERT_WEBHOOK_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("CVIZ_ALERT_WEBHOOK_FORMAT", "teams")
    with pytest.raises(CvizError, match="CVIZ_ALERT_WEBHOOK_FORMAT='teams'"):
        alerts.webhook_from_env()
