"""The bot's roles as separate OS processes (`python -m bot worker|sender|web|digest`), each
with its output captured to files; killed (-9) or stopped (SIGTERM) on demand, always reaped.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def fake_token() -> str:
    """A token shaped like BotFather's, unique per test: finding it in an output is a leak."""
    return f"{secrets.randbelow(9 * 10**9) + 10**9}:AA{secrets.token_urlsafe(33)[:33]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    predicate: Callable[[], T], *, timeout: float, interval: float = 0.25, what: str = ""
) -> T:
    """Poll `predicate` until it returns something truthy; TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:g} s: {what or predicate}")
        time.sleep(interval)


@dataclass
class RoleProcess:
    """One running role."""

    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    port: int | None = None
    started_at: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def kill9(self) -> None:
        """SIGKILL to the role and its children (its parse pool): no cleanup at all, as when
        a machine or container dies. The role leads a process group of its own."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def terminate(self, *, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait; the exit code, or None if it had to be killed."""
        if not self.alive:
            return self.popen.returncode
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None

    def output(self) -> str:
        return "".join(
            path.read_text(encoding="utf-8", errors="replace")
            for path in (self.stdout_path, self.stderr_path)
            if path.exists()
        )

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.output().splitlines()[-lines:])

    def healthz(self, timeout: float = 5.0) -> tuple[int, dict[str, Any]]:
        """GET /healthz of a role started with a port: (status, JSON body)."""
        assert self.port is not None, f"{self.name} was started without --port"
        response = httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=timeout)
        try:
            body = response.json()
        except ValueError:
            body = {"raw": response.text}
        return response.status_code, body

    def metrics(self, timeout: float = 5.0) -> str:
        assert self.port is not None, f"{self.name} was started without --port"
        return httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=timeout).text

    def serving(self) -> bool:
        try:
            self.healthz(timeout=1.0)
        except httpx.HTTPError:
            return False
        return True


class Cluster:
    """The roles of one test; `close()` (the fixture's teardown) leaves no child behind."""

    def __init__(self, *, workdir: Path, env: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.env = dict(env)
        self.processes: list[RoleProcess] = []

    def start(
        self,
        role: str,
        *args: str,
        name: str | None = None,
        port: bool = False,
        env: Mapping[str, str] | None = None,
    ) -> RoleProcess:
        name = name or f"{role}{len(self.processes) + 1}"
        argv = [sys.executable, "-m", "bot", role, *args]
        chosen = None
        if port:
            chosen = free_port()
            argv += ["--port", str(chosen)]
        out = self.workdir / f"{name}.stdout.log"
        err = self.workdir / f"{name}.stderr.log"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            popen = subprocess.Popen(
                argv,
                cwd=self.workdir,  # no .env of the developer's is read
                env={**self.env, **(env or {})},
                stdout=stdout,
                stderr=stderr,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # a ^C to pytest reaches us, not the roles
            )
        process = RoleProcess(name, argv, popen, out, err, chosen)
        self.processes.append(process)
        return process

    def by_name(self, name: str) -> RoleProcess:
        return next(p for p in self.processes if p.name == name)

    def dead(self) -> list[RoleProcess]:
        return [p for p in self.processes if not p.alive]

    def outputs(self) -> dict[str, str]:
        return {p.name: p.output() for p in self.processes}

    def describe(self) -> str:
        """Each process's state and last lines, for assertion messages."""
        parts = []
        for p in self.processes:
            state = "alive" if p.alive else f"exited {p.popen.returncode}"
            parts.append(f"--- {p.name} (pid {p.pid}, {state}) ---\n{p.tail()}")
        return "\n".join(parts)

    def close(self) -> None:
        for p in self.processes:
            if p.alive:
                with contextlib.suppress(ProcessLookupError):
                    p.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for p in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            # The group too: children of a role that exited (or was killed) may linger.
            p.kill9()


def role_env(
    *,
    database_url: str,
    token: str,
    api_url: str,
    feeds_file: Path,
    poll_interval_seconds: int,
    **extra: str,
) -> dict[str, str]:
    """The environment every role reads its Settings from."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        DATABASE_URL=database_url,
        TELEGRAM_BOT_TOKEN=token,
        TELEGRAM_API_URL=api_url,
        FEEDS_FILE=str(feeds_file),
        POLL_INTERVAL_SECONDS=str(poll_interval_seconds),
        ALLOW_PRIVATE_FEED_HOSTS="true",
        LOG_LEVEL="DEBUG",
        SEND_RATE_PER_SECOND="100",
    )
    env.update(extra)
    return env


def token_leaks(outputs: Mapping[str, str], token: str) -> dict[str, list[str]]:
    """Lines of each output that contain the token or its secret half."""
    secret = token.partition(":")[2]
    found: dict[str, list[str]] = {}
    for name, text in outputs.items():
        lines = [line for line in text.splitlines() if token in line or secret in line]
        if lines:
            found[name] = lines[:5]
    return found
