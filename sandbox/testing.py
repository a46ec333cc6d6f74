"""Run the sandbox as a real subprocess for tests (the back-office's tests reuse this).

    from sandbox.testing import running_sandbox

    with running_sandbox(tmp_path, offers=500, seed=42, admin_key="k") as sandbox:
        account = sandbox.admin("POST", "/sandbox/accounts", {"balance": 100})
        requests.get(sandbox.url + "/api/v1/offers/balance",
                     headers={"Authorization": account["token"]})

The process is started with ``--port 0``; the fixture waits for its ``SANDBOX_READY`` line and
terminates it (SIGTERM, then SIGKILL) on exit. Only the standard library is used here, like the
sandbox itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
READY = "SANDBOX_READY "


class SandboxAdminError(Exception):
    """The admin API answered an error status."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"sandbox admin answered {status}: {body}")
        self.status = status
        self.body = body


class RunningSandbox:
    """A started sandbox: its ``url``, admin helper, and process."""

    def __init__(
        self, process: subprocess.Popen, url: str, admin_key: str, state: Path, stderr_path: Path
    ) -> None:
        self.process = process
        self.url = url
        self.admin_key = admin_key
        self.state = state
        self.stderr_path = stderr_path

    def admin(
        self,
        method: str,
        path: str,
        json_body: Any = None,
        *,
        params: dict[str, Any] | None = None,
        timeout: float = 30,
    ) -> Any:
        """Call the admin API; returns the decoded JSON, raises ``SandboxAdminError`` on >= 400.

        Numbers with a fraction come back as ``Decimal`` (prices stay exact); a ``Decimal`` in
        ``json_body`` is sent as a string, which the admin API accepts for every number.
        """
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(
                {key: value for key, value in params.items() if value is not None}
            )
        data = None if json_body is None else json.dumps(json_body, default=str).encode()
        headers = {"X-Sandbox-Admin": self.admin_key, "Content-Type": "application/json"}
        request = urllib.request.Request(  # noqa: S310 (the sandbox's own http URL)
            url, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"null", parse_float=Decimal)
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                body = json.loads(raw, parse_float=Decimal)
            except ValueError:
                body = raw.decode(errors="replace")
            raise SandboxAdminError(exc.code, body) from None

    def create_account(self, **fields: Any) -> dict[str, Any]:
        """``POST /sandbox/accounts`` with ``fields`` (kind, balance_profile, postpaid, ...)."""
        return self.admin("POST", "/sandbox/accounts", fields)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""


def _wait_ready(process: subprocess.Popen, timeout: float) -> str:
    found: list[str] = []

    def read() -> None:
        for line in process.stdout:
            if not found and line.startswith(READY):
                found.append(line[len(READY) :].strip())
        # keep draining so the child never blocks on a full pipe

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    waited = 0.0
    while not found and waited < timeout:
        if process.poll() is not None:
            break
        reader.join(0.05)
        waited += 0.05
    if not found:
        raise RuntimeError("sandbox did not become ready")
    return found[0]


@contextmanager
def running_sandbox(
    tmp_path: Path,
    offers: int = 500,
    seed: int = 42,
    admin_key: str = "test-admin",
    *,
    state: Path | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 60,
) -> Iterator[RunningSandbox]:
    """Start ``python -m sandbox`` on a free port with a state file under ``tmp_path``."""
    tmp_path = Path(tmp_path)
    tmp_path.mkdir(parents=True, exist_ok=True)
    state = Path(state) if state else tmp_path / "sandbox.sqlite3"
    stderr_path = tmp_path / f"{state.name}.stderr"
    # Hermetic: a developer's SANDBOX_* settings (from .env) must not reach a test's sandbox.
    env = {key: value for key, value in os.environ.items() if not key.startswith("SANDBOX_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--state",
        str(state),
        "--offers",
        str(offers),
        "--seed",
        str(seed),
        "--admin-key",
        admin_key,
        *extra_args,
    ]
    with open(stderr_path, "ab") as stderr:
        process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        try:
            url = _wait_ready(process, timeout)
        except RuntimeError:
            process.kill()
            process.wait()
            detail = stderr_path.read_text(errors="replace")
            raise RuntimeError(f"sandbox did not start: {detail[-2000:]}") from None
        yield RunningSandbox(process, url, admin_key, state, stderr_path)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
