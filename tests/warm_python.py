"""``python -c``/``-m``/script children forked from a warm parent that has already imported the heavy
third-party libraries a ``cviz`` command imports, instead of started cold.

Why: a ``cviz run`` on a few images spends about 3.5 of its 4-6 CPU seconds importing SciPy,
Dagster, Matplotlib, pandas, NumPy, SQLAlchemy/Alembic and scikit-learn (``python -X importtime``),
and the suite runs about 25 such commands through ``subprocess.run``; on 2 cores that is CPU the other
worker's tests wait for.

What a child gets is what ``subprocess.run(argv, env=..., cwd=..., capture_output=True, text=True,
timeout=...)`` gives: a process of its own (its own pid, exit status, negative when a signal ended it),
the requested environment, working directory and umask, stdin from /dev/null, its stdout and stderr;
``popen`` gives the part of ``subprocess.Popen`` the tests use (pid, poll, wait, communicate, signals). It is
forked from the parent after the preload, so nothing of cviz is imported yet: cviz reads some settings
when imported (the step retry policy, the schedules) and must read them from the child's environment.

A request runs cold (a plain ``subprocess.Popen``) while the parent's previous child still runs, or when
its environment differs from the parent's in
anything but ``CVIZ_*``, ``DAGSTER_HOME`` and pytest's ``PYTEST_CURRENT_TEST``: the interpreter and the preloaded libraries read
``PYTHON*``, ``OMP_*``, ``MPL*`` and the like once, at start-up. One parent per test module, stopped by
``stop()`` at the module's end (tests/conftest.py), so that no process outlives its module.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

PRELOAD = ("numpy", "scipy.stats", "scipy.sparse", "scipy.spatial", "pandas", "pyarrow", "matplotlib.pyplot",
           "PIL.Image", "sklearn.base", "sklearn.cluster", "sklearn.decomposition", "sklearn.neighbors", "openTSNE",
           "sqlalchemy", "alembic", "dagster", "fsspec", "httpx", "pydantic", "yaml")
# Read when used, never when a preloaded library is imported (pytest's own changes with every test).
PER_CALL = ("CVIZ_", "DAGSTER_HOME", "PYTEST_CURRENT_TEST")

# The parent: preload, then one fork per request line ({argv, env, cwd, stdout, stderr}); it answers
# {"pid": ...} when the child started and {"status": ...} (subprocess's returncode) when it ended.
PARENT = r"""
import importlib, json, os, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
import atexit, runpy, signal, traceback

def child(req):
    if req["umask"] is not None:
        os.umask(req["umask"])
    os.chdir(req["cwd"])
    os.environ.clear()
    os.environ.update(req["env"])
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY), (1, req["stdout"], os.O_WRONLY | os.O_TRUNC),
                            (2, req["stderr"], os.O_WRONLY | os.O_TRUNC)):
        os.dup2(os.open(path, flags), fd)
    argv = req["argv"]
    code = 0
    try:
        if argv[0] == "-c":
            sys.argv = ["-c", *argv[2:]]
            exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
        elif argv[0] == "-m":
            sys.path[0] = os.getcwd()
            sys.argv = [argv[1], *argv[2:]]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(argv)
            sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exc:
        code = exc.code
    except KeyboardInterrupt:  # as the interpreter ends on an unhandled Ctrl-C: by SIGINT itself
        traceback.print_exc()
        atexit._run_exitfuncs()
        sys.stdout.flush(); sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:
        traceback.print_exc()
        code = 1
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(code & 0xFF)

answers = os.fdopen(int(os.environ["WARM_PYTHON_ANSWERS"]), "w", buffering=1)
for line in sys.stdin:
    req = json.loads(line)
    pid = os.fork()
    if pid == 0:
        answers.close()
        child(req)
    answers.write(json.dumps({"pid": pid}) + "\n")
    _, status = os.waitpid(pid, 0)
    answers.write(json.dumps({"status": os.waitstatus_to_exitcode(status)}) + "\n")
"""


def _startup_env(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if not k.startswith(PER_CALL)}


class WarmParent:
    """One preloaded parent process and its request pipe; one child at a time."""

    def __init__(self, env: dict[str, str]) -> None:
        self.startup = _startup_env(env)
        self.child: WarmProcess | None = None
        read, write = os.pipe()
        self.proc = subprocess.Popen([sys.executable, "-c", PARENT, *PRELOAD], stdin=subprocess.PIPE, text=True,
                                     stdout=subprocess.DEVNULL, env={**self.startup, "WARM_PYTHON_ANSWERS": str(write)},
                                     pass_fds=(write,), cwd=tempfile.gettempdir())
        os.close(write)
        self.answers = os.fdopen(read, "r")

    def fits(self, env: dict[str, str]) -> bool:
        return (self.proc.poll() is None and _startup_env(env) == self.startup
                and (self.child is None or self.child.poll() is not None))

    def answer(self, timeout: float | None) -> dict:
        ready, _, _ = select.select([self.answers], [], [], timeout)
        if not ready:
            raise TimeoutError
        line = self.answers.readline()
        if not line:
            raise RuntimeError(f"the warm parent ended (status {self.proc.wait()})")
        return json.loads(line)

    def start(self, argv: list[str], env: dict[str, str], cwd: str, umask: int | None) -> WarmProcess:
        folder = Path(tempfile.mkdtemp(prefix="warm-python-"))
        out, err = folder / "stdout", folder / "stderr"
        out.touch()
        err.touch()
        request = {"argv": argv, "env": env, "cwd": cwd, "umask": umask, "stdout": str(out), "stderr": str(err)}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        self.child = WarmProcess(self, argv, self.answer(60)["pid"], folder)
        return self.child

    def stop(self) -> None:
        if self.child is not None and self.child.poll() is None:
            self.child.kill()
        self.proc.kill()  # between requests it holds nothing but its imports
        self.proc.wait()
        self.proc.stdin.close()
        self.answers.close()


class WarmProcess:
    """The part of ``subprocess.Popen`` (text mode, stdout and stderr piped) the tests use, for a child
    of a :class:`WarmParent`: its output is read from files when it has ended."""

    def __init__(self, parent: WarmParent, args: list[str], pid: int, folder: Path) -> None:
        self.parent, self.args, self.pid, self.folder = parent, args, pid, folder
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                self.returncode = self.parent.answer(0)["status"]
            except TimeoutError:
                pass
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            try:
                self.returncode = self.parent.answer(timeout)["status"]
            except TimeoutError:
                raise subprocess.TimeoutExpired(self.args, timeout) from None
        return self.returncode

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        self.wait(timeout)
        out, err = ((self.folder / name).read_text(errors="replace") for name in ("stdout", "stderr"))
        shutil.rmtree(self.folder, ignore_errors=True)
        return out, err

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


_parent: WarmParent | None = None


def popen(argv: list[str], env: dict[str, str], cwd: str | os.PathLike,
          umask: int | None = None) -> subprocess.Popen | WarmProcess:
    """``subprocess.Popen([sys.executable, *argv], env=env, cwd=cwd, stdout=PIPE, stderr=PIPE, text=True)``
    (with ``umask`` set in the child), forked from this module's warm parent when it is free and ``env``
    fits it (see the module docstring). ``argv`` starts with ``-c CODE``, ``-m MODULE`` or a script."""
    global _parent
    if _parent is not None and _parent.proc.poll() is not None:  # it died: start another
        _parent = None
    if _parent is not None and not _parent.fits(env):
        return subprocess.Popen([sys.executable, *argv], env=env, cwd=cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, umask=-1 if umask is None else umask)
    if _parent is None:
        _parent = WarmParent(env)
    return _parent.start(argv, env, str(cwd), umask)


def run(argv: list[str], env: dict[str, str], cwd: str | os.PathLike, timeout: float = 600) -> subprocess.CompletedProcess:
    """``subprocess.run([sys.executable, *argv], env=env, cwd=cwd, capture_output=True, text=True,
    timeout=timeout)`` through :func:`popen`."""
    proc = popen(argv, env, cwd)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise subprocess.TimeoutExpired(argv, timeout, out, err) from None
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def stop() -> None:
    """End the warm parent, if one was started (at each test module's end)."""
    global _parent
    if _parent is not None:
        _parent.stop()
        _parent = None
