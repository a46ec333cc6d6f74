"""`make run` stops cleanly: bin/run-procfile, started on a small Procfile of sleepers that behave
like the real processes (a server, a worker with a pool it stops itself, one that leaves children
behind), stops every one of them on SIGINT or SIGTERM, quickly, with status 0 and no error lines,
whether the signal goes to the runner or to make. And gunicorn's settings come from `.env` and
keep its control socket under var/."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "bin" / "run-procfile"

SLEEPER = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path

    name, mode, pids = sys.argv[1], sys.argv[2], Path(sys.argv[3])

    def record():
        (pids / f"{name}-{os.getpid()}").write_text("")

    def child():
        # Like a Celery pool process: ignores SIGINT, dies on SIGTERM.
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            record()
            while True:
                time.sleep(1)
        return pid

    kids = [child(), child()] if mode in ("pool", "orphan") else []

    def stop(signum, frame):
        if mode == "stubborn":
            return
        if mode == "pool":  # stops its own children, as a Celery worker does
            time.sleep(0.1)
            for kid in kids:
                done, status = os.waitpid(kid, os.WNOHANG)
                if done:  # and complains, as Celery does, if one was killed under it
                    print(f"ERROR pool process {kid} exited with {status}", flush=True)
                    continue
                os.kill(kid, signal.SIGTERM)
                os.waitpid(kid, 0)
        print(f"{name} got {signal.Signals(signum).name}", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    record()
    print(f"{name} ready", flush=True)
    while True:
        time.sleep(1)
    """
)


@pytest.fixture
def procfile(tmp_path):
    """Write a Procfile of sleepers (name -> mode); returns (path, pid folder, expected count).
    Whatever a failed test leaves running is killed afterwards."""
    pids = tmp_path / "pids"

    def make(lines: dict[str, str]) -> tuple[Path, Path, int]:
        pids.mkdir()
        (tmp_path / "sleeper.py").write_text(SLEEPER)
        content = "# a test Procfile\n"
        expected = 0
        for name, mode in lines.items():
            if mode.startswith("exit"):  # once the others have started
                wait = f'until [ "$(ls {pids} | wc -l)" -ge {expected} ]; do sleep 0.05; done'
                content += f"{name}: {wait}; exit {mode.split()[1]}\n"
                continue
            command = f"{sys.executable} sleeper.py {name} {mode.split()[0]} {pids}"
            if mode.endswith("in a list"):  # not the shell's only command
                command = f"echo {name} starting && {command}"
            content += f"{name}: {command}\n"
            expected += 3 if mode in ("pool", "orphan") else 1
        path = tmp_path / "Procfile"
        path.write_text(content)
        return path, pids, expected

    yield make
    for recorded in pids.glob("*"):
        pid = int(recorded.name.rpartition("-")[2])
        if running(pid):
            with contextlib.suppress(OSError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)


def start(command: list[str], cwd: Path) -> subprocess.Popen:
    # SIGINT back to its default first, in case this suite was started with it ignored (a
    # background job of a script): make would then ignore it too.
    trampoline = (
        "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
        "os.execvp(sys.argv[1], sys.argv[1:])"
    )
    return subprocess.Popen(
        [sys.executable, "-c", trampoline, *command],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan waiting for init to reap it has stopped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    if not Path("/proc/self/stat").exists():
        return True  # no /proc: a zombie counts as running
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False  # ended meanwhile
    return state not in ("Z", "X")


def wait_for_start(process: subprocess.Popen, pids: Path, expected: int) -> list[int]:
    deadline = time.monotonic() + 10
    while len(list(pids.iterdir())) < expected:
        assert process.poll() is None, process.stdout.read().decode()
        assert time.monotonic() < deadline, "the sleepers did not start"
        time.sleep(0.05)
    time.sleep(0.2)  # every handler is installed once the pid is recorded; let them settle
    return [int(path.name.rpartition("-")[2]) for path in pids.iterdir()]


def stop(process: subprocess.Popen, signum: int) -> tuple[int, str, float]:
    started = time.monotonic()
    process.send_signal(signum)
    try:
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode, output.decode(), time.monotonic() - started


def assert_all_gone(pids: list[int], output: str) -> None:
    deadline = time.monotonic() + 1  # orphans are reaped by init, not by us
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [pid for pid in pids if running(pid)]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"still running: {left}\n{output}"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_the_runner_stops_every_process_cleanly(procfile, signum):
    path, pids, expected = procfile(
        {"web": "clean", "worker": "pool", "beat": "orphan", "listed": "clean in a list"}
    )
    process = start([sys.executable, str(RUNNER), str(path)], path.parent)
    started = wait_for_start(process, pids, expected)

    status, output, took = stop(process, signum)

    assert_all_gone(started, output)
    assert status == 0, output
    assert took < 5, output  # well within 10 s, and not the timeout's kill
    assert "error" not in output.lower(), output
    for name in ("web", "worker", "beat", "listed"):
        assert f"{name} got SIGTERM" in output, output  # each main process, once
    assert output.count("got SIGTERM") == 4, output
    assert "all stopped" in output


def test_a_process_that_ignores_the_stop_is_killed_at_the_timeout(procfile):
    path, pids, expected = procfile({"web": "clean", "stuck": "stubborn"})
    process = start([sys.executable, str(RUNNER), "--timeout", "2", str(path)], path.parent)
    started = wait_for_start(process, pids, expected)

    status, output, took = stop(process, signal.SIGTERM)

    assert_all_gone(started, output)
    assert status == 0, output
    assert 2 <= took < 4, output
    assert "killing: stuck" in output, output
    assert "error" not in output.lower(), output


def test_a_process_ending_by_itself_stops_the_others_and_fails(procfile):
    path, pids, expected = procfile({"web": "clean", "broken": "exit 3"})
    process = start([sys.executable, str(RUNNER), str(path)], path.parent)
    started = wait_for_start(process, pids, expected)

    output, _ = process.communicate(timeout=10)

    assert_all_gone(started, output.decode())
    assert process.returncode == 3, output
    assert b"broken ended by itself with exit status 3" in output


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="--watch-parent reads /proc")
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_make_alone_stops_make_run(procfile, signum):
    path, pids, expected = procfile({"web": "clean", "worker": "pool"})
    # The real `run` recipe, without the set-up (migrations ...) it depends on.
    process = start(
        ["make", "--no-print-directory", "-o", "setup", "run", f"PROCFILE={path}"], ROOT
    )
    started = wait_for_start(process, pids, expected)

    status, output, took = stop(process, signum)

    assert_all_gone(started, output)
    # The recipe ended with status 0: make reports no error. make itself then ends by the signal
    # it was sent (GNU make re-raises it once its recipe is done), as a shell expects.
    assert status in (0, -signum), output
    assert "Error" not in output and "error" not in output.lower(), output
    assert took < 5, output  # well within 10 s, and not the timeout's kill
    assert "all stopped" in output
    if signum == signal.SIGINT:  # make keeps it from its recipe: --watch-parent noticed
        assert "make received SIGINT" in output, output


def test_gunicorn_reads_dot_env_and_keeps_its_control_socket_under_var(tmp_path):
    checkout = tmp_path / "checkout"
    (checkout / "reseller").mkdir(parents=True)
    shutil.copy(ROOT / "reseller" / "gunicorn_conf.py", checkout / "reseller")
    (checkout / ".env").write_text("WEB_BIND=127.0.0.1:8765\nWEB_CONCURRENCY=3\nWEB_THREADS=5\n")
    load = textwrap.dedent(
        """
        import json, sys
        from gunicorn.app.wsgiapp import WSGIApplication

        sys.argv = ["gunicorn", "--config", sys.argv[1], "reseller.wsgi"]
        cfg = WSGIApplication().cfg
        print(json.dumps({"bind": cfg.bind, "workers": cfg.workers, "threads": cfg.threads,
                          "control_socket": cfg.control_socket}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WEB_")}
    env["WEB_THREADS"] = "7"  # the environment wins over .env, as in the settings

    def settings(config: Path) -> dict:
        done = subprocess.run(
            [sys.executable, "-c", load, str(config)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    copied = settings(checkout / "reseller" / "gunicorn_conf.py")
    assert copied == {
        "bind": ["127.0.0.1:8765"],
        "workers": 3,
        "threads": 7,
        "control_socket": str(checkout / "var" / "gunicorn.ctl"),
    }
    real = settings(ROOT / "reseller" / "gunicorn_conf.py")
    assert real["control_socket"] == str(ROOT / "var" / "gunicorn.ctl")
