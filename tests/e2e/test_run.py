"""``steward run`` as a real process: it runs what the CLI submits, and stops cleanly."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bot.app import build, run
from bot.settings import load_settings
from engine.model import BackendName, JobSpec
from tests.conftest import Steward, wait_for

ECHO = json.dumps({"skill": "echo", "args": {"hello": "world"}})


def sleep_payload(seconds: float) -> str:
    return json.dumps({"skill": "sleep", "args": {"seconds": seconds}})


def started(steward: Steward, log: Path, **env: str) -> subprocess.Popen[str]:
    proc = steward.start(log, **env)
    wait_for(lambda: "started:" in log.read_text() or proc.poll() is not None, 20)
    assert proc.poll() is None, log.read_text()
    return proc


def stop(proc: subprocess.Popen[str], within_s: float) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=within_s)


def test_run_runs_cli_jobs_and_stops_on_sigterm(steward: Steward, tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    proc = started(steward, log, STEWARD_GRACE_SECONDS="5")
    first = log.read_text().splitlines()[0]
    assert (f"started: data dir {steward.data_dir}, 20 slots, "
            "backends claude_code, codex, shell, skill") in first
    job_id = steward.submit("--backend", "skill", "--payload", ECHO)
    assert steward.wait_state(job_id, "done", timeout_s=5)["result"] == {"hello": "world"}
    shell = steward.submit("--backend", "shell", "--command", "echo from-shell")
    assert steward.wait_state(shell, "done", timeout_s=10)["result"]["stdout"] == "from-shell\n"
    doctor = {c["name"]: c for c in steward.json("doctor")}
    assert doctor["steward run"] == {"name": "steward run", "status": "ok",
                                     "detail": f"running (pid {proc.pid})"}
    assert stop(proc, within_s=10) == 0
    assert json.loads(log.read_text().splitlines()[-1])["msg"] == "stopped"


def test_a_second_run_is_refused(steward: Steward, tmp_path: Path) -> None:
    proc = started(steward, tmp_path / "run.log")
    second = steward("run")
    assert second.returncode == 3
    assert second.stderr == (f"steward: another `steward run` is already using "
                             f"{steward.data_dir} (pid {proc.pid})\n")
    assert proc.poll() is None
    assert stop(proc, within_s=10) == 0


def test_wait_exits_0_when_done_and_1_when_failed(steward: Steward, tmp_path: Path) -> None:
    proc = started(steward, tmp_path / "run.log")
    ok = steward("job", "submit", "--backend", "skill", "--payload", ECHO, "--wait")
    assert ok.returncode == 0, ok.stderr
    job_id, outcome = ok.stdout.splitlines()
    assert outcome == f'job {job_id} done: {{"hello":"world"}}'
    bad = steward("job", "submit", "--backend", "skill", "--payload", sleep_payload(-1),
                  "--wait", "--json")
    assert bad.returncode == 1
    failed = json.loads(bad.stdout)
    assert failed["state"] == "failed"
    assert "seconds must be a number" in failed["error"]
    done = steward("job", "cancel", job_id)
    assert done.returncode == 1
    assert done.stderr == f"steward: job {job_id} already ended done; nothing to cancel\n"
    assert stop(proc, within_s=10) == 0


def test_cancel_stops_a_running_job(steward: Steward, tmp_path: Path) -> None:
    proc = started(steward, tmp_path / "run.log", STEWARD_GRACE_SECONDS="0.5")
    job_id = steward.submit("--backend", "skill", "--payload", sleep_payload(60))
    steward.wait_state(job_id, "running")
    asked = steward("job", "cancel", str(job_id))
    assert asked.returncode == 0
    assert "asked `steward run` to stop it" in asked.stdout
    job = steward.wait_state(job_id, "cancelled", timeout_s=5)
    assert job["attempt_history"][0]["outcome"] == "cancelled"
    retried = steward("job", "retry", str(job_id))
    assert retried.returncode == 0
    steward.wait_state(job_id, "running")
    assert stop(proc, within_s=10) == 0


def test_sigterm_lets_a_running_job_finish(steward: Steward, tmp_path: Path) -> None:
    proc = started(steward, tmp_path / "run.log", STEWARD_GRACE_SECONDS="20")
    job_id = steward.submit("--backend", "skill", "--payload", sleep_payload(1))
    steward.wait_state(job_id, "running")
    assert stop(proc, within_s=20) == 0
    assert steward.job(job_id)["result"] == {"slept_s": 1}


def test_sigterm_hands_back_a_job_that_outlasts_the_grace(steward: Steward,
                                                          tmp_path: Path) -> None:
    proc = started(steward, tmp_path / "run.log", STEWARD_GRACE_SECONDS="0.5")
    job_id = steward.submit("--backend", "skill", "--payload", sleep_payload(60))
    steward.wait_state(job_id, "running")
    begun = time.monotonic()
    assert stop(proc, within_s=10) == 0
    assert time.monotonic() - begun < 5
    job = steward.job(job_id)
    assert job["state"] == "ready"
    assert [a["outcome"] for a in job["attempt_history"]] == ["interrupted"]


def test_a_killed_run_is_recovered_by_the_next(steward: Steward, tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    proc = started(steward, log)
    job_id = steward.submit("--backend", "skill", "--payload", sleep_payload(2))
    steward.wait_state(job_id, "running")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    proc = started(steward, tmp_path / "again.log")
    assert "recovered 1 job(s)" in (tmp_path / "again.log").read_text()
    assert steward.wait_state(job_id, "done", timeout_s=10)["result"] == {"slept_s": 2}
    assert stop(proc, within_s=10) == 0


def test_pipeline_runs_to_its_answer(steward: Steward, tmp_path: Path) -> None:
    pipeline = tmp_path / "p.json"
    pipeline.write_text(json.dumps({"name": "pair", "steps": [
        {"name": "first", "backend": "skill", "payload": {"skill": "echo", "args": {"n": 1}}},
        {"name": "second", "backend": "skill", "needs": ["first"],
         "payload": {"skill": "echo", "args": {"got": "{{prev_result}}"}}},
    ]}))
    proc = started(steward, tmp_path / "run.log")
    done = steward("pipeline", "run", str(pipeline), "--wait", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"] == {"got": {"n": 1}}
    assert stop(proc, within_s=10) == 0


class Lines(logging.Handler):
    """Collects log lines and says when one containing ``text`` arrives."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text, self.lines, self.seen = text, list[str](), asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        if self.text in self.lines[-1]:
            self.seen.set()


async def test_status_line_when_something_changed(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("STEWARD_DATA_DIR", str(clean_env / "data"))
    caplog.set_level(logging.INFO, logger="steward")
    lines = Lines("status: 1 done")
    logging.getLogger("steward").addHandler(lines)
    app = build(load_settings(), lock=True)
    stop_event = asyncio.Event()
    task = asyncio.create_task(run(app, stop_event, status_every_s=0.05))
    try:
        job_id = app.engine.submit(JobSpec(BackendName.SKILL, {"skill": "echo"}))
        assert await asyncio.wait_for(app.engine.result(job_id), 5) == {}
        await asyncio.wait_for(lines.seen.wait(), 5)
    finally:
        stop_event.set()
        await task
        app.close()
        logging.getLogger("steward").removeHandler(lines)
    assert lines.lines[0].startswith("started: ")
    assert lines.lines[-1] == "stopped"
    assert ("status: 1 done, 0 failed, 0 cancelled since the last line; "
            "0 running, 0 ready, 0 waiting") in lines.lines
