"""tests/warm_python.py: a warm child behaves as the cold ``subprocess.run`` child it replaces."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import warm_python

PROBE = ("import json, os, sys; print(json.dumps({'argv': sys.argv, 'cwd': os.getcwd(), 'x': os.environ.get('CVIZ_X'),"
         " 'warm': 'dagster' in sys.modules, 'cviz': 'cviz' in sys.modules, 'pid': os.getpid()}))")


@pytest.fixture
def env() -> dict[str, str]:
    return {**os.environ, "CVIZ_X": "request"}


def _cold(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *argv], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_warm_child_sees_its_own_argv_environment_and_folder_and_no_cviz_yet(env, tmp_path: Path) -> None:
    import json

    warm = warm_python.run(["-c", PROBE, "a", "b c"], env, tmp_path)
    cold = _cold(["-c", PROBE, "a", "b c"], env, tmp_path)
    w, c = json.loads(warm.stdout), json.loads(cold.stdout)
    assert w.pop("warm") and not c.pop("warm")  # the libraries were there before the child started
    assert w.pop("pid") != os.getpid()
    c.pop("pid")
    assert w == c == {"argv": ["-c", "a", "b c"], "cwd": str(tmp_path), "x": "request", "cviz": False}
    assert (warm.returncode, warm.stderr) == (cold.returncode, cold.stderr) == (0, "")


@pytest.mark.parametrize(("code", "status", "stderr"), [
    ("import sys; sys.exit(3)", 3, ""),
    ("import sys; sys.exit('refused: a message')", 1, "refused: a message\n"),
    ("raise ValueError('boom')", 1, "ValueError: boom\n"),
    ("import os, signal; os.kill(os.getpid(), signal.SIGTERM)", -15, ""),
    ("import sys; print('out'); print('err', file=sys.stderr)", 0, "err\n"),
])
def test_exit_status_and_output_are_the_cold_childs(env, tmp_path: Path, code: str, status: int, stderr: str) -> None:
    warm, cold = warm_python.run(["-c", code], env, tmp_path), _cold(["-c", code], env, tmp_path)
    assert warm.returncode == cold.returncode == status
    assert warm.stderr.endswith(stderr) and cold.stderr.endswith(stderr)
    assert warm.stdout == cold.stdout


def test_module_and_script_children_get_the_interpreters_argv_and_path(env, tmp_path: Path) -> None:
    script = tmp_path / "tool.py"
    script.write_text("import sys; print(sys.argv, sys.path[0])\n")
    (tmp_path / "mod_here.py").write_text("import sys; print(sys.argv[1:], __name__)\n")
    for argv in (["-m", "mod_here", "x"], [str(script), "y"]):
        warm, cold = warm_python.run(argv, env, tmp_path), _cold(argv, env, tmp_path)
        assert warm.returncode == cold.returncode == 0, warm.stderr
        assert warm.stdout == cold.stdout
    assert warm_python.run(["-m", "mod_here", "x"], env, tmp_path).stdout == "['x'] __main__\n"
    assert warm_python.run([str(script), "y"], env, tmp_path).stdout == f"['{script}', 'y'] {tmp_path}\n"


def test_another_start_up_environment_runs_cold(env, tmp_path: Path) -> None:
    import json

    assert json.loads(warm_python.run(["-c", PROBE], env, tmp_path).stdout)["warm"]
    other = {**env, "PYTHONHASHSEED": "7"}  # read by the interpreter at start-up only
    assert not json.loads(warm_python.run(["-c", PROBE], other, tmp_path).stdout)["warm"]


def test_a_timeout_kills_the_child_as_subprocess_run_does(env, tmp_path: Path) -> None:
    marker = tmp_path / "pid"
    code = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    with pytest.raises(subprocess.TimeoutExpired):
        warm_python.run(["-c", code], env, tmp_path, timeout=2)
    with pytest.raises(ProcessLookupError):
        os.kill(int(marker.read_text()), 0)
    assert warm_python.run(["-c", "print(1)"], env, tmp_path).stdout == "1\n"  # the parent serves on


def test_popen_children_take_signals_and_a_request_while_one_runs_goes_cold(env, tmp_path: Path) -> None:
    import json
    import signal
    import time

    marker = tmp_path / "started"
    code = (f"import os, time; open({str(marker)!r}, 'w').close()\n"
            "try:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    print('interrupted'); raise SystemExit(130)")
    first = warm_python.popen(["-c", code], env, tmp_path)
    assert isinstance(first, warm_python.WarmProcess)
    second = warm_python.popen(["-c", PROBE], env, tmp_path)  # the parent is busy with the first
    assert isinstance(second, subprocess.Popen) and not json.loads(second.communicate(timeout=120)[0])["warm"]
    while not marker.exists():
        assert first.poll() is None
        time.sleep(0.05)
    os.kill(first.pid, signal.SIGINT)
    assert first.communicate(timeout=60) == ("interrupted\n", "") and first.returncode == 130
    made = tmp_path / "made"
    killed = warm_python.popen(["-c", f"import time; open({str(made)!r}, 'w').close(); time.sleep(60)"], env,
                               tmp_path, umask=0o077)
    assert isinstance(killed, warm_python.WarmProcess)  # free again
    while not made.exists():
        time.sleep(0.05)
    assert made.stat().st_mode & 0o777 == 0o600
    with pytest.raises(subprocess.TimeoutExpired):
        killed.wait(timeout=0.2)
    killed.kill()
    assert killed.wait(timeout=60) == -signal.SIGKILL
