"""The ``shell`` backend: commands run by a detached runner, confined to the workspace, secret-free.

Runs are durable (``engine.workers.durable``): the effect is recorded before the runner starts and
the runner outlives Steward, so a job taken back after a crash adopts the run it left instead of
repeating its command; a failure is recorded in the effects ledger before the engine hears of it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, cast

from engine.model import JSON, FailureClass, Job
from engine.signals import Fail
from engine.workers.backend import RunContext
from engine.workers.durable import DurableRunner, Finished, Spec, exit_failure, stopped

PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME",
              "SHELL", "TERM")
SECRET_MARKERS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "CREDENTIAL", "PRIVATE")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ShellResult(TypedDict):
    exit_code: int
    stdout: str
    stderr: str
    truncated: bool
    duration_s: float


@dataclass(frozen=True, slots=True)
class Command:
    """A checked payload: what to run, where, with what."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    timeout_s: float
    stdin: str | None


def is_secret(name: str) -> bool:
    """Names never handed to a command: Steward's own settings and anything like a key."""
    upper = name.upper()
    return (upper.startswith("STEWARD_") or any(m in upper for m in SECRET_MARKERS)
            or "KEY" in upper.split("_"))


def _fail(reason: str) -> Fail:
    return Fail(reason, FailureClass.INVALID_INPUT)


def _argv(payload: dict[str, JSON]) -> list[str]:
    command, argv = payload.get("command"), payload.get("argv")
    if (command is None) == (argv is None):
        raise _fail("give either command (a string for /bin/sh -c) or argv (a list), not both")
    if command is not None:
        if not isinstance(command, str) or not command.strip():
            raise _fail("command must be a non-empty string")
        argv = ["/bin/sh", "-c", command]
    if not (isinstance(argv, list) and argv and all(isinstance(a, str) for a in argv)):
        raise _fail("argv must be a non-empty list of strings")
    if any("\0" in a for a in argv):
        raise _fail("the command must not contain NUL characters")
    return cast(list[str], argv)


def _cwd(value: JSON, workspace: Path) -> Path:
    """The working folder: relative to the workspace and, after symlinks, still inside it."""
    if value is None:
        return workspace
    if not isinstance(value, str) or "\0" in value:
        raise _fail("cwd must be a path relative to the workspace")
    if Path(value).is_absolute():
        raise _fail(f"cwd {value!r} must be relative to the workspace, not absolute")
    folder = (workspace / value).resolve()
    if not folder.is_relative_to(workspace):
        raise _fail(f"cwd {value!r} leads outside the workspace")
    if folder.exists() and not folder.is_dir():
        raise _fail(f"cwd {value!r} is not a folder")
    return folder


def _env(value: JSON) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _fail("env must map variable names to strings")
    for name, text in value.items():
        if not ENV_NAME.fullmatch(name) or "\0" in text:
            raise _fail(f"env name {name!r} is not a valid variable name")
        if is_secret(name):
            raise _fail(f"env {name} looks like a secret; commands never receive secrets")
    return cast(dict[str, str], value)


def _timeout_s(value: JSON, default_s: float) -> float:
    if value is None:
        return default_s
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < 1e9:
        raise _fail("timeout_s must be a positive number of seconds")
    return float(value)


def parse(payload: dict[str, JSON], workspace: Path, default_timeout_s: float) -> Command:
    """Check a payload, raising ``Fail(invalid_input)`` with one sentence on the first problem."""
    stdin = payload.get("stdin")
    if stdin is not None and not isinstance(stdin, str):
        raise _fail("stdin must be a string")
    return Command(_argv(payload), _cwd(payload.get("cwd"), workspace), _env(payload.get("env")),
                   _timeout_s(payload.get("timeout_s"), default_timeout_s), stdin)


class ShellBackend:
    """Runs ``{"command": ...}`` or ``{"argv": [...]}`` payloads durably (see the module text)."""

    handles_timeout = True
    """The job's ``timeout_s`` is the command's: the runner stops its whole process group."""

    def __init__(self, workspace: Path, *, output_cap_bytes: int = 1 << 20,
                 default_timeout_s: float = 600.0, kill_grace_s: float = 5.0,
                 python: str = sys.executable, environ: Mapping[str, str] | None = None) -> None:
        self._workspace = workspace
        self._default_timeout_s = default_timeout_s
        self._environ = os.environ if environ is None else environ
        self.runner = DurableRunner(output_cap_bytes=output_cap_bytes, kill_grace_s=kill_grace_s,
                                    base_env=self.base_env, python=python)

    async def run(self, job: Job, ctx: RunContext) -> JSON:
        async def prepare() -> Spec:
            command = parse(job.payload, self._workspace_dir(),
                            job.timeout_s or self._default_timeout_s)
            return Spec(command.argv, command.cwd, command.env, command.timeout_s, command.stdin)

        return await self.runner.run(ctx, ctx.effect_key, prepare, _harvest)

    @property
    def workspace(self) -> Path:
        """The folder commands run in; coding agents work in it too."""
        return self._workspace

    def sweep(self, data_dir: Path, keep: Iterable[str]) -> int:
        """Remove run folders no unfinished effect refers to; returns how many went."""
        return self.runner.sweep(data_dir, keep)

    def base_env(self) -> dict[str, str]:
        """The harmless part of Steward's environment that every command starts from."""
        return {name: value for name in PASSED_ENV
                if (value := self._environ.get(name)) is not None and not is_secret(name)}

    def _workspace_dir(self) -> Path:
        self._workspace.mkdir(parents=True, exist_ok=True)
        return self._workspace.resolve()


def _harvest(finished: Finished) -> JSON:
    outcome = finished.outcome
    failure = stopped(outcome) or exit_failure(outcome, finished.stderr)
    if failure is not None:
        raise failure
    result: ShellResult = {"exit_code": 0, "stdout": finished.stdout, "stderr": finished.stderr,
                           "truncated": outcome["truncated"],
                           "duration_s": round(outcome["duration_s"], 3)}
    return result
