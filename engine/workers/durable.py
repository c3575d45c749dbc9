"""Durable runs: a command run by a detached runner whose outcome survives a SIGKILL of Steward.

A run lives in a folder under ``data_dir/runs``. The effect is recorded (``started``, with the
folder as its ref) before the runner is spawned, and the runner outlives Steward, so a job taken
back after a crash adopts the run it left instead of repeating its command:

* the runner never claimed the folder   → the command never ran: run it afresh;
* the runner is still alive             → wait for its result;
* a result is there                     → harvest it;
* the runner died without a result      → fail as ``uncertain_effect``; never repeat it.

A failure is recorded in the effects ledger (``failed``) before it is reported to the engine:
should Steward die before recording the failed attempt, the recovered job fails the same way
instead of running the command again. Only the owner's retry clears it. A harvest that raises
``Retry`` says the command had no effect (a rate limit): its effect is forgotten.

Used by the ``shell`` backend and the coding-agent backends alike.
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
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, cast

from engine.model import JSON, FailureClass
from engine.signals import Fail, Retry
from engine.store.records import Effect
from engine.workers.backend import RunContext
from engine.workers.shell_runner import write_atomic

RUNNER = Path(__file__).with_name("shell_runner.py")
HEARTBEAT_S = 5.0
POLL_S = 0.05
TAIL_CHARS = 300
UNCERTAIN = ("the command may have run partly when Steward stopped; it was not repeated — "
             "retry it by hand if that is safe")
STOPPED = "the command was stopped while it ran and may have run partly"


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
class Spec:
    """What one run executes; ``note`` is kept beside it for the harvest (also after adoption)."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    timeout_s: float
    stdin: str | None = None
    note: JSON = None


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

    def note(self) -> JSON:
        try:
            return json.loads((self.path / "note.json").read_text())
        except (OSError, ValueError):
            return None


@dataclass(frozen=True, slots=True)
class Finished:
    """A run that ended: what the harvest turns into a result or a failure."""

    outcome: RunOutcome
    stdout: str
    stderr: str
    note: JSON


Harvest = Callable[[Finished], JSON]
Prepare = Callable[[], Awaitable[Spec]]


def recorded(failure: JSON) -> Fail:
    """The failure the ledger holds for an effect, as the signal that reports it again."""
    held = failure if isinstance(failure, dict) else {}
    kind = FailureClass._value2member_map_.get(str(held.get("class")))
    return Fail(str(held.get("reason") or UNCERTAIN),
                kind if isinstance(kind, FailureClass) else FailureClass.UNCERTAIN_EFFECT)


def stopped(outcome: RunOutcome) -> Fail | None:
    """How a run failed before its command could answer: killed, not started, timed out."""
    if outcome["killed"] or (outcome["exit_code"] is None and not outcome["error"]):
        return Fail(UNCERTAIN, FailureClass.UNCERTAIN_EFFECT)
    if outcome["error"] is not None:
        return Fail(f"could not start the command: {outcome['error']}", FailureClass.OTHER)
    if outcome["timed_out"]:
        return Fail(f"timed out after {outcome['duration_s']:.3g} s; the command and its "
                    "children were killed", FailureClass.TIMEOUT)
    return None


def exit_failure(outcome: RunOutcome, stderr: str) -> Fail | None:
    """A non-zero exit or a signal, with the end of stderr; None for exit code 0."""
    code = outcome["exit_code"] or 0
    if code < 0:
        why = signal.strsignal(-code) or "unknown"
        return Fail(f"the command was killed by signal {-code} ({why})", FailureClass.OTHER)
    if code:
        tail = stderr.strip()[-TAIL_CHARS:] or "no error output"
        return Fail(f"the command exited with code {code}: {tail}", FailureClass.OTHER)
    return None


class DurableRunner:
    """Runs specs through detached runners, adopting what a crashed Steward left (see above)."""

    def __init__(self, *, output_cap_bytes: int, kill_grace_s: float,
                 base_env: Callable[[], dict[str, str]], python: str = sys.executable) -> None:
        self._cap_bytes = output_cap_bytes
        self._grace_s = kill_grace_s
        self._base_env = base_env
        """The environment every runner and command starts from, read at each run."""
        self._python = python
        self._children: set[int] = set()
        """Runners this process spawned and has not reaped yet."""

    async def run(self, ctx: RunContext, key: str, prepare: Prepare, harvest: Harvest) -> JSON:
        """The result of the effect ``key``: stored, adopted, or run now from ``prepare()``."""
        effect = ctx.effects.get(key)
        if effect is not None:
            if effect.state == "done":
                self._tidy(effect.ref)
                return effect.result
            if effect.state == "failed":
                raise recorded(effect.result)
            adopted = self._adopt(effect, ctx, key)
            if adopted is not None:
                return await self._finish(adopted, ctx, key, None, harvest)
        spec = await prepare()
        run = self._prepare(spec, ctx, key)
        ctx.effects.start(key, ctx.job.id, ref=str(run.path))
        try:
            child = self._spawn(run)
        except OSError as exc:
            run.claim()
            self._forget(run, ctx, key)
            raise Fail(f"could not start the runner: {exc}", FailureClass.OTHER) from exc
        return await self._finish(run, ctx, key, child, harvest)

    def _adopt(self, effect: Effect, ctx: RunContext, key: str) -> RunDir | None:
        """The earlier run to wait on, or None once it is forgotten and may run afresh."""
        run = RunDir(Path(effect.ref)) if effect.ref else None
        if run is None or not run.path.is_dir():
            raise self._failed(ctx, key, Fail(UNCERTAIN, FailureClass.UNCERTAIN_EFFECT))
        if not run.claim():
            return run  # the runner has it: wait for its outcome
        # Claimed here first: the runner never started the command, and now never will.
        self._forget(run, ctx, key)
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
    def _failed(ctx: RunContext, key: str, failure: Fail) -> Fail:
        """Record the failure in the ledger before the engine hears of it."""
        ctx.effects.fail(key, failure.reason, failure.failure_class)
        return failure

    def _forget(self, run: RunDir | None, ctx: RunContext, key: str) -> None:
        ctx.effects.drop(key)
        self._tidy(str(run.path) if run else None)

    @staticmethod
    def _tidy(ref: str | None) -> None:
        """Remove a run folder that is no longer needed: its outcome is in the ledger or void."""
        if ref:
            shutil.rmtree(ref, ignore_errors=True)

    def _prepare(self, spec: Spec, ctx: RunContext, key: str) -> RunDir:
        """Make the run folder and write the spec the runner reads."""
        name = f"{re.sub(r'[^A-Za-z0-9._-]', '_', key)[:64]}-{ctx.attempt}-{secrets.token_hex(3)}"
        run = RunDir(ctx.data_dir.absolute() / "runs" / name)
        run.path.mkdir(parents=True)
        spec.cwd.mkdir(parents=True, exist_ok=True)
        env = {**self._base_env(), **spec.env, "JOB_ID": str(ctx.job.id), "JOB_KEY": key}
        body = {"argv": spec.argv, "cwd": str(spec.cwd), "env": env, "timeout_s": spec.timeout_s,
                "stdin": spec.stdin, "output_cap_bytes": self._cap_bytes,
                "kill_grace_s": self._grace_s}
        if spec.note is not None:
            write_atomic(run.path / "note.json", json.dumps(spec.note))
        write_atomic(run.path / "spec.json", json.dumps(body))
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

    async def _finish(self, run: RunDir, ctx: RunContext, key: str, child: int | None,
                      harvest: Harvest) -> JSON:
        try:
            outcome = await self._await_outcome(run, ctx, child)
        except asyncio.CancelledError:
            await self._on_cancel(run, ctx, key, child)
            raise
        return self._settle(run, outcome, ctx, key, harvest)

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

    def _settle(self, run: RunDir, outcome: RunOutcome | None, ctx: RunContext, key: str,
                harvest: Harvest) -> JSON:
        """Harvest a finished run into the ledger: done, failed, or forgotten (``Retry``)."""
        try:
            if outcome is None:
                raise Fail(UNCERTAIN, FailureClass.UNCERTAIN_EFFECT)
            result = harvest(Finished(outcome, run.output("stdout"), run.output("stderr"),
                                      run.note()))
        except Retry:
            self._forget(run, ctx, key)
            raise
        except Fail as failure:
            self._failed(ctx, key, failure)
            self._tidy(str(run.path))
            raise
        ctx.effects.done(key, result)
        self._tidy(str(run.path))
        return result

    async def _on_cancel(self, run: RunDir, ctx: RunContext, key: str,
                         child: int | None) -> None:
        """Stop the command unless the job is being handed back at shutdown."""
        if ctx.released():
            return  # the runner carries on; the next start adopts its outcome
        if run.claim():
            self._forget(run, ctx, key)  # the command never started
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
        self._failed(ctx, key, Fail(STOPPED, FailureClass.UNCERTAIN_EFFECT))
