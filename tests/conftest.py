"""Shared fixtures: a clean environment and the real ``steward`` process on a temporary data dir."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests import canary

CONFIG_PREFIXES = ("STEWARD_", "OPENAI_", "ANTHROPIC_", "OPENROUTER_", "OLLAMA_")
CLI_TIMEOUT_S = 30.0


def pytest_configure(config: pytest.Config) -> None:
    canary.install(config)


def clean_environ() -> dict[str, str]:
    """The current environment without any Steward or provider setting."""
    return {k: v for k, v in os.environ.items() if not k.upper().startswith(CONFIG_PREFIXES)}


def wait_for(check: Callable[[], Any], timeout_s: float = 10.0, every_s: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"still not true after {timeout_s} s: {check}")
        time.sleep(every_s)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No Steward settings in the environment, and a cwd without a ``.env``."""
    for key in list(os.environ):
        if key.upper().startswith(CONFIG_PREFIXES):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@dataclass
class Steward:
    """Runs the real ``steward`` command (``python -m bot``) against one data dir."""

    cwd: Path
    env: dict[str, str]
    started: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def data_dir(self) -> Path:
        return Path(self.env["STEWARD_DATA_DIR"])

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "bot", *args], cwd=self.cwd, env={**self.env, **env},
            capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False)
        canary.record(f"steward {' '.join(args)} output", done.stdout + done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def json(self, *args: str) -> Any:
        done = self(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def submit(self, *args: str) -> int:
        done = self("job", "submit", *args)
        assert done.returncode == 0, done.stderr
        return int(done.stdout.strip())

    def job(self, job_id: int) -> dict[str, Any]:
        found: dict[str, Any] = self.json("job", "show", str(job_id))
        return found

    def wait_state(self, job_id: int, *states: str, timeout_s: float = 10.0) -> dict[str, Any]:
        result: dict[str, Any] = wait_for(
            lambda: (job := self.job(job_id))["state"] in states and job, timeout_s)
        return result

    def start(self, log: Path, **env: str) -> subprocess.Popen[str]:
        """``steward run`` in the background, its stderr going to ``log``."""
        with log.open("w") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], cwd=self.cwd, env={**self.env, **env},
                stdout=subprocess.DEVNULL, stderr=sink, text=True)
        canary.record_file("steward run log", log)
        self.started.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=CLI_TIMEOUT_S)


@pytest.fixture
def steward(tmp_path: Path) -> Iterator[Steward]:
    env = {**clean_environ(), "STEWARD_DATA_DIR": str(tmp_path / "data")}
    runner = Steward(tmp_path, env)
    yield runner
    runner.stop_all()
