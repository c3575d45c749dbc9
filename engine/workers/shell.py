"""The ``shell`` backend: commands run by a detached runner, confined to the workspace, secret-free.

A run lives in a folder under ``data_dir/runs``. The effect is recorded (``started``, with the
folder as its ref) before the runner is spawned, and the runner outlives Steward, so a job taken
back after a crash adopts the run it left instead of repeating its command:

* the runner never claimed the folder   → the command never ran: run it afresh;
* the runner is still alive             → wait for its result;
* a result is there                     → harvest it;
* the runner died without a result      → fail as ``uncertain_effect``; never repeat it.

A failure is recorded in the effects ledger (``failed``) before it is reported to the engine:
should Steward die before recording the failed attempt, the recovered job fails the same way
instead of running the command again. Only the owner's retry clears the ledger and runs it anew.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, cast

from engine.model import JSON, FailureClass, Job
from engine.signals import Fail
from engine.store.records import Effect
from engine.workers.backend import RunContext
from engine.workers.shell_runner import write_atomic

RUNNER = Path(__file__).with_name("shell_runner.py")
PASSED_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "USER", "LOGNAME",
              "SHELL", "TERM")
SECRET_MARKERS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "API_KEY", "CREDENTIAL", "PRIVATE")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
HEARTBEAT_S = 5.0
POLL_S = 0.05
TAIL_CHARS = 300
UNCERTAIN = ("the command may have run partly when Steward stopped; it was not repeated — "
             "retry it by hand if that is safe")
STOPPED = "the command was stopped while it ran and may have run partly"


class ShellResult(TypedDict):
    exit_code: int
    stdout: str
    stderr: str
    truncated: bool
    duration_s: float


class RunOutcome(TypedDict):
    """``result.json`` as the runner writes it."""

    exit_code: int | None
    error: str | None
    timed_out: bool
    killed: bool
    truncated: bool
    started_at: float
    finished_at: float
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


def _alive(pid: int, run_dir: Path) -> bool:
    """Whether ``pid`` is still the runner of ``run_dir`` (a reused pid or a zombie is not)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return os.fsencode(run_dir) in cmdline.split(b"\0")


@dataclass(frozen=True, slots=True)
class RunDir:
    """The folder one run lives in, shared with its runner."""

    path: Path

    def claim(self) -> bool:
        """Take the run before the runner does: True means its command never started."""
        try:
            os.mkdir(self.path / "claimed")
        except FileExistsError:
            return False
        return True

    def runner_pid(self) -> int | None:
        try:
            return int((self.path / "pid").read_text())
        except (OSError, ValueError):
            return None

    def runner_alive(self) -> bool:
        pid = self.runner_pid()
        return pid is not None and _alive(pid, self.path)

    def outcome(self) -> RunOutcome | None:
        try:
            return cast(RunOutcome, json.loads((self.path / "result.json").read_text()))
        except (OSError, ValueError):
            return None

    def output(self, name: str) -> str:
        try:
            return (self.path / name).read_bytes().decode(errors="replace")
        except OSError:
            return ""


def _recorded(failure: JSON) -> Fail:
    """The failure the ledger holds for an effect, as the signal that reports it again."""
    recorded = failure if isinstance(failure, dict) else {}
    kind = FailureClass._value2member_map_.get(str(recorded.get("class")))
    return Fail(str(recorded.get("reason") or UNCERTAIN),
                kind if isinstance(kind, FailureClass) else FailureClass.UNCERTAIN_EFFECT)


def _failure(outcome: RunOutcome, stderr: str) -> Fail | None:
    """What went wrong in a finished run, or None when it succeeded."""
    if outcome["killed"] or (outcome["exit_code"] is None and not outcome["error"]):
        return Fail(UNCERTAIN, FailureClass.UNCERTAIN_EFFECT)
    if outcome["error"] is not None:
        return Fail(f"could not start the command: {outcome['error']}", FailureClass.OTHER)
    if outcome["timed_out"]:
        return Fail(f"timed out after {outcome['duration_s']:.3g} s; the command and its "
                    "children were killed", FailureClass.TIMEOUT)
    code = outcome["exit_code"] or 0
    if code < 0:
        why = signal.strsignal(-code) or "unknown"
        return Fail(f"the command was killed by signal {-code} ({why})", FailureClass.OTHER)
    if code:
        tail = stderr.strip()[-TAIL_CHARS:] or "no error output"
        return Fail(f"the command exited with code {code}: {tail}", FailureClass.OTHER)
    return None


class ShellBackend:
    """Runs ``{"command": ...}`` or ``{"argv": [...]}`` payloads durably (see the module text)."""

    handles_timeout = True
    """The job's ``timeout_s`` is the command's: the runner stops its whole process group."""

    def __init__(self, workspace: Path, *, output_cap_bytes: int = 1 << 20,
                 default_timeout_s: float = 600.0, kill_grace_s: float = 5.0,
                 python: str = sys.executable, environ: Mapping[str, str] | None = None) -> None:
        self._workspace = workspace
        self._cap_bytes = output_cap_bytes
        self._default_timeout_s = default_timeout_s
        self._grace_s = kill_grace_s
        self._python = python
        self._environ = os.environ if environ is None else environ
        self._children: set[int] = set()
        """Runners this process spawned and has not reaped yet."""

    async def run(self, job: Job, ctx: RunContext) -> JSON:
        effect = ctx.effects.get(ctx.effect_key)
        if effect is not None:
            if effect.state == "done":
                self._tidy(effect.ref)
                return effect.result
            if effect.state == "failed":
                raise _recorded(effect.result)
            adopted = self._adopt(effect, ctx)
            if adopted is not None:
                return await self._finish(adopted, ctx, None)
        command = parse(job.payload, self._workspace_dir(),
                        job.timeout_s or self._default_timeout_s)
        run = self._prepare(command, ctx)
        ctx.effects.start(ctx.effect_key, job.id, ref=str(run.path))
        try:
            child = self._spawn(run)
        except OSError as exc:
            run.claim()
            self._forget(run, ctx)
            raise Fail(f"could not start the shell runner: {exc}", FailureClass.OTHER) from exc
        return await self._finish(run, ctx, child)

    def _adopt(self, effect: Effect, ctx: RunContext) -> RunDir | None:
        """The earlier run to wait on, or None once it is forgotten and may run afresh."""
        run = RunDir(Path(effect.ref)) if effect.ref else None
        if run is None or not run.path.is_dir():
            raise self._failed(ctx, Fail(UNCERTAIN, FailureClass.UNCERTAIN_EFFECT))
        if not run.claim():
            return run  # the runner has it: wait for its outcome
        # Claimed here first: the runner never started the command, and now never will.
        self._forget(run, ctx)
        return None

    def sweep(self, data_dir: Path, keep: Iterable[str]) -> int:
        """Remove run folders no unfinished effect refers to (left by crashes between making a
        folder and recording its effect, or by finished runs); returns how many went."""
        runs = data_dir.absolute() / "runs"
        live = {Path(ref) for ref in keep}
        stale = [p for p in runs.iterdir() if p not in live] if runs.is_dir() else []
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
        return len(stale)

    @staticmethod
    def _failed(ctx: RunContext, failure: Fail) -> Fail:
        """Record the failure in the ledger before the engine hears of it."""
        ctx.effects.fail(ctx.effect_key, failure.reason, failure.failure_class)
        return failure

    def _forget(self, run: RunDir | None, ctx: RunContext) -> None:
        ctx.effects.drop(ctx.effect_key)
        self._tidy(str(run.path) if run else None)

    @staticmethod
    def _tidy(ref: str | None) -> None:
        """Remove a run folder that is no longer needed: its outcome is in the ledger or void."""
        if ref:
            shutil.rmtree(ref, ignore_errors=True)

    def _workspace_dir(self) -> Path:
        self._workspace.mkdir(parents=True, exist_ok=True)
        return self._workspace.resolve()

    def _base_env(self) -> dict[str, str]:
        return {name: value for name in PASSED_ENV
                if (value := self._environ.get(name)) is not None and not is_secret(name)}

    def _prepare(self, command: Command, ctx: RunContext) -> RunDir:
        """Make the run folder and write the spec the runner reads."""
        key = re.sub(r"[^A-Za-z0-9._-]", "_", ctx.effect_key)[:64]
        name = f"{key}-{ctx.attempt}-{secrets.token_hex(3)}"
        run = RunDir(ctx.data_dir.absolute() / "runs" / name)
        run.path.mkdir(parents=True)
        command.cwd.mkdir(parents=True, exist_ok=True)
        env = {**self._base_env(), **command.env,
               "JOB_ID": str(ctx.job.id), "JOB_KEY": ctx.effect_key}
        spec = {"argv": command.argv, "cwd": str(command.cwd), "env": env,
                "timeout_s": command.timeout_s, "stdin": command.stdin,
                "output_cap_bytes": self._cap_bytes, "kill_grace_s": self._grace_s}
        write_atomic(run.path / "spec.json", json.dumps(spec))
        return run

    def _spawn(self, run: RunDir) -> int:
        """Start the runner in a session of its own, so that it outlives this process."""
        log = str(run.path / "runner.log")
        actions = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 2, log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)]
        argv = [self._python, "-I", "-S", str(RUNNER), str(run.path)]
        # Not a Popen: its object warns when dropped with the runner still going, which is the
        # point of a release at shutdown. Children are reaped by ``_reap`` instead.
        pid = os.posix_spawn(self._python, argv, self._base_env(), file_actions=actions,
                             setsid=True, setsigdef=(signal.SIGPIPE, signal.SIGXFSZ))
        self._children.add(pid)
        return pid

    async def _finish(self, run: RunDir, ctx: RunContext, child: int | None) -> JSON:
        try:
            outcome = await self._await_outcome(run, ctx, child)
        except asyncio.CancelledError:
            await self._on_cancel(run, ctx, child)
            raise
        return self._harvest(run, outcome, ctx)

    async def _await_outcome(self, run: RunDir, ctx: RunContext,
                             child: int | None) -> RunOutcome | None:
        beat_at = time.monotonic() + HEARTBEAT_S
        while (outcome := run.outcome()) is None:
            if not self._running(run, child):
                return run.outcome()  # written just before the runner exited, or never
            if time.monotonic() >= beat_at:
                ctx.heartbeat()
                beat_at += HEARTBEAT_S
            await asyncio.sleep(POLL_S)
        self._reap()
        return outcome

    def _running(self, run: RunDir, child: int | None) -> bool:
        self._reap()
        return child in self._children if child is not None else run.runner_alive()

    def _reap(self) -> None:
        for pid in list(self._children):
            try:
                ended, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                ended = pid
            if ended:
                self._children.discard(pid)

    def _harvest(self, run: RunDir, outcome: RunOutcome | None, ctx: RunContext) -> JSON:
        stdout, stderr = run.output("stdout"), run.output("stderr")
        failure = (Fail(UNCERTAIN, FailureClass.UNCERTAIN_EFFECT) if outcome is None
                   else _failure(outcome, stderr))
        if outcome is None or failure is not None:
            self._tidy(str(run.path))
            raise self._failed(ctx, failure or Fail(UNCERTAIN, FailureClass.UNCERTAIN_EFFECT))
        result: ShellResult = {"exit_code": 0, "stdout": stdout, "stderr": stderr,
                               "truncated": outcome["truncated"],
                               "duration_s": round(outcome["duration_s"], 3)}
        ctx.effects.done(ctx.effect_key, result)
        self._tidy(str(run.path))
        return result

    async def _on_cancel(self, run: RunDir, ctx: RunContext, child: int | None) -> None:
        """Stop the command unless the job is being handed back at shutdown."""
        if ctx.released():
            return  # the runner carries on; the next start adopts its outcome
        if run.claim():
            self._forget(run, ctx)  # the command never started
            return
        if run.outcome() is not None:
            return  # it finished: the next attempt harvests its outcome
        pid = run.runner_pid()
        if pid is not None and _alive(pid, run.path):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # the runner stops the command's whole group
        for _ in range(int((self._grace_s + 1.0) / POLL_S)):
            if not self._running(run, child):
                break
            await asyncio.sleep(POLL_S)
        self._failed(ctx, Fail(STOPPED, FailureClass.UNCERTAIN_EFFECT))
