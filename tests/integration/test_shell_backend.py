"""The shell backend through the real engine: real SQLite, real subprocesses, real crashes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from engine.loop import Engine, EngineConfig
from engine.model import JSON, AttemptOutcome, BackendName, FailureClass, Job, JobSpec, JobState
from engine.store.sqlite import SqliteStore
from engine.workers.backend import Effects
from engine.workers.shell import ShellBackend

CRASH_CHILD = Path(__file__).parents[1] / "fakes" / "shell_crash_child.py"
DEADLINE_S = 15.0


# -- fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "data"
    yield folder
    _kill_leftovers(folder, str(tmp_path))


@pytest.fixture
def store(data_dir: Path) -> Iterator[SqliteStore]:
    s = SqliteStore.open(data_dir / "steward.db")
    yield s
    s.close()


@pytest.fixture
def engine(store: SqliteStore, data_dir: Path) -> Engine:
    return make_engine(store, data_dir)


def make_engine(store: SqliteStore, data_dir: Path, **backend: int | float) -> Engine:
    shell = ShellBackend(data_dir / "workspace", kill_grace_s=1.0, **backend)  # type: ignore[arg-type]
    return Engine(store, {BackendName.SHELL: shell}, EngineConfig(data_dir, grace_s=0.05))


async def run_job(engine: Engine, payload: JSON, key: str | None = None) -> Job:
    job_id = engine.submit(JobSpec(BackendName.SHELL, payload, idempotency_key=key))
    await engine.run_until_idle()
    return engine.store.get_job(job_id)


async def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def gone(pid: int) -> bool:
    """Whether ``pid`` has exited (a zombie has: it only waits to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _kill_leftovers(folder: Path, marker: str) -> None:
    """Kill and reap whatever a test left running: only processes naming this test's folder."""
    for pid_file in [*folder.rglob("pid"), *folder.rglob("*.pid")]:
        with contextlib.suppress(OSError, ValueError):
            pid = int(pid_file.read_text())
            if marker in Path(f"/proc/{pid}/cmdline").read_text() and not gone(pid):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError):
            os.waitpid(int(pid_file.read_text()), os.WNOHANG)


class Gate:
    """A command that records its pid, waits for ``open()``, then appends $JOB_KEY to a file."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.pid_file, self.go, self.lines = folder / "cmd.pid", folder / "go", folder / "lines"
        pid, go, lines = (shlex.quote(str(p)) for p in (self.pid_file, self.go, self.lines))
        self.command = (f"echo $$ > {pid}.tmp && mv {pid}.tmp {pid}; "
                        f"while [ ! -e {go} ]; do sleep 0.02; done; echo \"$JOB_KEY\" >> {lines}")

    def started(self) -> bool:
        return self.pid_file.exists()

    @property
    def pid(self) -> int:
        return int(self.pid_file.read_text())

    def open(self) -> None:
        self.go.touch()

    def appended(self) -> list[str]:
        return self.lines.read_text().splitlines() if self.lines.exists() else []


def found(folder: Path, name: str) -> bool:
    return any(folder.rglob(name))


def run_dirs(data_dir: Path) -> list[Path]:
    runs = data_dir / "runs"
    return sorted(runs.iterdir()) if runs.exists() else []


def runner_pid(data_dir: Path) -> int:
    (run,) = run_dirs(data_dir)
    return int((run / "pid").read_text())


def park_as_crashed(engine: Engine, job_id: int) -> None:
    """Claim the job and recover it, as a restart after a crash mid-run leaves it."""
    now = time.time()
    with engine.store.transaction():
        engine.store.promote_due(now)
    assert engine.store.get_job(job_id).state is JobState.READY
    engine.store.claim([job_id], now, now + 900)
    assert engine.recover() == 1


# -- running commands ---------------------------------------------------------------------------


async def test_a_command_runs_and_answers_its_output(engine: Engine) -> None:
    job = await run_job(engine, {"command": "echo hello; echo note >&2"})

    assert job.state is JobState.DONE
    assert job.result["exit_code"] == 0
    assert job.result["stdout"] == "hello\n"
    assert job.result["stderr"] == "note\n"
    assert job.result["truncated"] is False
    assert 0 <= job.result["duration_s"] < 5


async def test_argv_is_run_without_a_shell_and_stdin_is_fed(engine: Engine) -> None:
    job = await run_job(engine, {"argv": ["printf", "%s|", "a b", "$HOME"]})
    fed = await run_job(engine, {"argv": ["cat"], "stdin": "piped in"})

    assert job.result["stdout"] == "a b|$HOME|"
    assert fed.result["stdout"] == "piped in"


async def test_a_command_runs_in_a_folder_of_the_workspace(engine: Engine, data_dir: Path) -> None:
    job = await run_job(engine, {"command": "pwd", "cwd": "sub/dir"})

    assert job.result["stdout"].strip() == str((data_dir / "workspace" / "sub" / "dir").resolve())


async def test_a_non_zero_exit_fails_with_the_code_and_the_end_of_stderr(engine: Engine) -> None:
    job = await run_job(engine, {"command": "echo first >&2; echo it broke >&2; exit 3"})

    assert job.state is JobState.FAILED
    assert job.failure_class is FailureClass.OTHER
    assert "code 3" in (job.error or "")
    assert "it broke" in (job.error or "")
    assert job.attempts == 1


async def test_a_timeout_kills_the_whole_process_group(engine: Engine, data_dir: Path) -> None:
    started = time.monotonic()
    job = await run_job(engine, {"command": "sleep 30 & echo $! > bg.pid; sleep 30",
                                 "timeout_s": 0.5})

    assert job.state is JobState.FAILED
    assert job.failure_class is FailureClass.TIMEOUT
    assert job.attempts == 1
    assert time.monotonic() - started < 5
    grandchild = int((data_dir / "workspace" / "bg.pid").read_text())
    await wait_for(lambda: gone(grandchild), "the background sleep to die")


async def test_a_flood_of_output_is_capped_and_quick(store: SqliteStore, data_dir: Path) -> None:
    engine = make_engine(store, data_dir, output_cap_bytes=65536)
    started = time.monotonic()
    job = await run_job(engine, {"command": "yes | head -c 50000000"})

    assert job.state is JobState.DONE
    assert job.result["truncated"] is True
    assert 0 < len(job.result["stdout"].encode()) <= 65536
    assert time.monotonic() - started < 10


# -- refusing bad payloads ----------------------------------------------------------------------


@pytest.mark.parametrize("cwd", ["..", "a/../../..", "/tmp", "outside", "outside/deeper"])
async def test_cwd_must_stay_inside_the_workspace(engine: Engine, data_dir: Path,
                                                  tmp_path: Path, cwd: str) -> None:
    (tmp_path / "elsewhere" / "deeper").mkdir(parents=True)
    (data_dir / "workspace").mkdir(parents=True)
    (data_dir / "workspace" / "outside").symlink_to(tmp_path / "elsewhere")

    job = await run_job(engine, {"command": "touch escaped", "cwd": cwd})

    assert job.state is JobState.FAILED
    assert job.failure_class is FailureClass.INVALID_INPUT
    assert "workspace" in (job.error or "")
    assert not found(tmp_path, "escaped")


@pytest.mark.parametrize("payload", [
    {},
    {"command": "true", "argv": ["true"]},
    {"command": ""},
    {"command": 3},
    {"command": "echo a\0b"},
    {"argv": []},
    {"argv": ["echo", 1]},
    {"argv": "echo"},
    {"command": "true", "env": {"A": 1}},
    {"command": "true", "env": ["A=1"]},
    {"command": "true", "env": {"BAD NAME": "x"}},
    {"command": "true", "timeout_s": -1},
    {"command": "true", "timeout_s": True},
    {"command": "true", "timeout_s": "10"},
    {"command": "true", "stdin": 5},
    {"command": "true", "cwd": 5},
])
async def test_a_bad_payload_is_refused_before_anything_runs(engine: Engine, data_dir: Path,
                                                             payload: JSON) -> None:
    job = await run_job(engine, payload)

    assert job.state is JobState.FAILED
    assert job.failure_class is FailureClass.INVALID_INPUT
    assert job.error
    assert "\n" not in job.error
    assert run_dirs(data_dir) == []


# -- the environment ----------------------------------------------------------------------------


async def test_commands_never_see_stewards_secrets(engine: Engine,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"STEWARD_TELEGRAM_TOKEN": "tg-secret", "OPENAI_API_KEY": "sk-secret",
               "ANTHROPIC_API_KEY": "ant-secret", "AWS_SECRET_ACCESS_KEY": "aws-secret",
               "GITHUB_TOKEN": "gh-secret", "DB_PASSWORD": "db-secret"}
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LANG", "C.UTF-8")

    job = await run_job(engine, {"command": "env", "env": {"GREETING": "hi"}}, key="env-1")

    env = dict(line.split("=", 1) for line in job.result["stdout"].splitlines() if "=" in line)
    assert not set(secrets) & set(env)
    assert not any(value in job.result["stdout"] for value in secrets.values())
    assert env["GREETING"] == "hi"
    assert env["LANG"] == "C.UTF-8"
    assert env["JOB_ID"] == str(job.id)
    assert env["JOB_KEY"] == "env-1"
    assert "PATH" in env


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "STEWARD_DATA_DIR", "GITHUB_TOKEN",
                                  "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "SSH_KEY"])
async def test_a_payload_cannot_pass_a_secret_either(engine: Engine, name: str) -> None:
    job = await run_job(engine, {"command": "env", "env": {name: "x"}})

    assert job.state is JobState.FAILED
    assert job.failure_class is FailureClass.INVALID_INPUT
    assert name in (job.error or "")


# -- idempotency and adoption -------------------------------------------------------------------


async def test_a_done_effect_is_answered_without_running_again(engine: Engine,
                                                               tmp_path: Path) -> None:
    lines = tmp_path / "lines"
    job_id = engine.submit(JobSpec(BackendName.SHELL, {"command": f"echo x >> {lines}"},
                                   idempotency_key="once"))
    park_as_crashed(engine, job_id)
    stored = {"exit_code": 0, "stdout": "from before\n", "stderr": "", "truncated": False,
              "duration_s": 0.1}
    effects = Effects(engine.store, time.time)
    effects.start("once", job_id)
    effects.done("once", stored)

    await engine.run_until_idle()

    job = engine.store.get_job(job_id)
    assert job.state is JobState.DONE
    assert job.result == stored
    assert not lines.exists()


async def test_a_run_the_runner_never_claimed_runs_afresh(engine: Engine, data_dir: Path) -> None:
    gate = Gate(data_dir / "gate")
    gate.open()
    job_id = engine.submit(JobSpec(BackendName.SHELL, {"command": gate.command},
                                   idempotency_key="fresh"))
    park_as_crashed(engine, job_id)
    stale = data_dir / "runs" / "fresh-1-stale"
    stale.mkdir(parents=True)
    (stale / "spec.json").write_text(json.dumps({"argv": ["false"]}))
    Effects(engine.store, time.time).start("fresh", job_id, ref=str(stale))

    await engine.run_until_idle()

    assert engine.store.get_job(job_id).state is JobState.DONE
    assert gate.appended() == ["fresh"]
    assert not stale.exists()


async def test_a_crashed_steward_is_adopted_and_the_effect_happens_once(
        store: SqliteStore, data_dir: Path) -> None:
    gate = Gate(data_dir / "gate")
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(CRASH_CHILD), str(data_dir), gate.command, "crash-1")
    try:
        await wait_for(gate.started, "the command to start in the child")
    finally:
        child.kill()
        await child.wait()
    assert not gone(runner_pid(data_dir))  # the runner outlived its Steward
    engine = make_engine(store, data_dir)
    asyncio.get_running_loop().call_later(0.2, gate.open)

    assert engine.recover() == 1
    await engine.run_until_idle()

    (job,) = store.list_jobs(10)
    assert job.state is JobState.DONE
    assert job.recoveries == 1
    assert gate.appended() == ["crash-1"]
    assert [a.outcome for a in store.attempts_of(job.id)] == [AttemptOutcome.CRASHED,
                                                               AttemptOutcome.DONE]


async def test_a_runner_that_dies_without_a_result_is_never_repeated(engine: Engine,
                                                                     data_dir: Path) -> None:
    gate = Gate(data_dir / "gate")
    job_id = engine.submit(JobSpec(BackendName.SHELL, {"command": gate.command},
                                   idempotency_key="lost"))
    task = asyncio.create_task(engine.run_until_idle())
    await wait_for(gate.started, "the command to start")
    os.kill(runner_pid(data_dir), signal.SIGKILL)
    await task

    job = engine.store.get_job(job_id)
    assert job.state is JobState.FAILED
    assert job.failure_class is FailureClass.UNCERTAIN_EFFECT
    assert "may have run partly" in (job.error or "")
    os.kill(gate.pid, signal.SIGKILL)

    gate.open()
    engine.retry(job_id)
    await engine.run_until_idle()

    assert engine.store.get_job(job_id).state is JobState.DONE
    assert gate.appended() == ["lost"]


async def test_a_failure_reported_before_a_crash_is_repeated_not_rerun(engine: Engine,
                                                                       tmp_path: Path) -> None:
    lines = tmp_path / "lines"
    job = await run_job(engine, {"command": f"echo x >> {lines}; echo boom >&2; exit 1"},
                        key="boom")
    assert job.state is JobState.FAILED
    # Put the job back as a crash between the ledger's record and the failed attempt's would
    # have left it: running, its effect failed. (Not engine.retry: that is the owner's retry.)
    with engine.store.transaction():
        engine.store.reset_for_retry([job.id], time.time())
        engine.store.recount_pending([job.id])
        engine.store.make_runnable(job.id, job.payload, time.time())
    park_as_crashed(engine, job.id)

    await engine.run_until_idle()

    again = engine.store.get_job(job.id)
    assert again.state is JobState.FAILED
    assert again.error == job.error
    assert lines.read_text().splitlines() == ["x"]


async def test_a_retry_by_hand_runs_a_failed_command_again(engine: Engine, tmp_path: Path) -> None:
    lines = tmp_path / "lines"
    job = await run_job(engine, {"command": f"echo x >> {lines}; exit 1"}, key="again")

    engine.retry(job.id)
    await engine.run_until_idle()

    assert engine.store.get_job(job.id).state is JobState.FAILED
    assert lines.read_text().splitlines() == ["x", "x"]


# -- cancellation and shutdown ------------------------------------------------------------------


async def test_cancelling_a_job_kills_its_command(engine: Engine, data_dir: Path) -> None:
    gate = Gate(data_dir / "gate")
    job_id = engine.submit(JobSpec(BackendName.SHELL, {"command": gate.command},
                                   idempotency_key="stop"))
    task = asyncio.create_task(engine.run_until_idle())
    await wait_for(gate.started, "the command to start")
    runner = runner_pid(data_dir)

    engine.cancel(job_id)
    await task

    assert engine.store.get_job(job_id).state is JobState.CANCELLED
    await wait_for(lambda: gone(gate.pid) and gone(runner), "the command and its runner to die")
    gate.open()
    engine.retry(job_id)
    await engine.run_until_idle()
    assert engine.store.get_job(job_id).state is JobState.DONE
    assert gate.appended() == ["stop"]


async def test_a_shutdown_leaves_the_command_running_for_the_next_start(
        store: SqliteStore, data_dir: Path) -> None:
    gate = Gate(data_dir / "gate")
    first = make_engine(store, data_dir)
    job_id = first.submit(JobSpec(BackendName.SHELL, {"command": gate.command},
                                  idempotency_key="handed-back"))
    stop = asyncio.Event()
    task = asyncio.create_task(first.run(stop))
    await wait_for(gate.started, "the command to start")

    stop.set()
    await task

    assert store.get_job(job_id).state is JobState.READY
    assert not gone(gate.pid)
    assert not gone(runner_pid(data_dir))
    second_store = SqliteStore.open(data_dir / "steward.db")
    try:
        second = make_engine(second_store, data_dir)
        asyncio.get_running_loop().call_later(0.2, gate.open)
        await second.run_until_idle()
        assert second_store.get_job(job_id).state is JobState.DONE
    finally:
        second_store.close()
    assert gate.appended() == ["handed-back"]
    outcomes = [a.outcome for a in store.attempts_of(job_id)]
    assert outcomes == [AttemptOutcome.INTERRUPTED, AttemptOutcome.DONE]


# -- the job's own timeout and housekeeping -----------------------------------------------------


async def test_the_jobs_timeout_is_the_commands_and_is_not_uncertain(engine: Engine) -> None:
    """The shell backend owns the timeout: the engine does not cancel it from outside, so the
    command is stopped cleanly and the failure is a plain timeout."""
    job_id = engine.submit(JobSpec(BackendName.SHELL, {"command": "sleep 30"}, timeout_s=0.3,
                                   max_attempts=1))
    await engine.run_until_idle()
    job = engine.store.get_job(job_id)
    assert job.failure_class is FailureClass.TIMEOUT
    assert "timed out after" in (job.error or "")


async def test_the_sweep_keeps_only_folders_of_unfinished_effects(engine: Engine,
                                                                  data_dir: Path) -> None:
    runs = data_dir / "runs"
    (runs / "stale").mkdir(parents=True)
    (runs / "live").mkdir()
    shell = ShellBackend(data_dir / "workspace")
    assert shell.sweep(data_dir, [str(runs / "live")]) == 1
    assert [p.name for p in runs.iterdir()] == ["live"]
    assert shell.sweep(data_dir / "nowhere", []) == 0


async def test_a_failed_effect_is_cleared_only_by_the_owners_retry(engine: Engine,
                                                                   tmp_path: Path) -> None:
    lines = tmp_path / "lines"
    job = await run_job(engine, {"command": f"echo x >> {lines}; exit 3"}, key="ledger")
    effect = engine.store.effect_get("ledger")
    assert effect is not None
    assert effect.state == "failed"
    assert effect.result["class"] == "other"
    engine.retry(job.id)
    assert engine.store.effect_get("ledger") is None
