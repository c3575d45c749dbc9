"""The real ``steward`` command line: what it prints, what it stores, and its exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Steward

ECHO = json.dumps({"skill": "echo", "args": {"n": 1}})


def test_console_script_and_module_agree(steward: Steward) -> None:
    script = Path(sys.executable).with_name("steward")
    done = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=False,
                          timeout=30)
    assert done.returncode == 0
    assert "job" in done.stdout
    assert "doctor" in done.stdout
    assert steward("--help").stdout == done.stdout


def test_submit_list_show(steward: Steward) -> None:
    first = steward.submit("--backend", "skill", "--payload", ECHO)
    second = steward.submit("--backend", "shell", "--command", "echo hi", "--priority", "0",
                            "--timeout", "5", "--max-attempts", "2")
    assert (first, second) == (1, 2)
    listed = steward.json("job", "list")
    assert [j["id"] for j in listed] == [2, 1]
    assert listed[0]["payload"] == {"command": "echo hi"}
    assert listed[0]["priority"] == 0
    assert [j["id"] for j in steward.json("job", "list", "--sort", "priority")] == [2, 1]
    assert [j["id"] for j in steward.json("job", "list", "--limit", "1")] == [2]
    assert steward.json("job", "list", "--status", "done") == []
    table = steward("job", "list").stdout.splitlines()
    assert table[0].split() == ["ID", "STATE", "P", "BACKEND", "WHAT", "CREATED", "TRIES"]
    assert "echo hi" in table[1]
    assert all(len(line) <= 80 for line in table)
    shown = steward.job(second)
    assert (shown["state"], shown["timeout_s"], shown["max_attempts"]) == ("ready", 5.0, 2)
    assert shown["attempt_history"] == []
    assert shown["needs"] == []
    text = steward("job", "show", str(first)).stdout
    assert text.startswith("job 1  ready\n")
    assert 'echo {"n":1}' in text


def test_submit_with_a_key_returns_the_same_job(steward: Steward) -> None:
    first = steward.submit("--backend", "skill", "--payload", ECHO, "--key", "once")
    again = steward("job", "submit", "--backend", "skill", "--payload", ECHO, "--key", "once")
    assert again.returncode == 0
    assert int(again.stdout) == first
    assert "was used before" in again.stderr
    assert len(steward.json("job", "list")) == 1


def test_cancel_and_retry(steward: Steward) -> None:
    job_id = steward.submit("--backend", "skill", "--payload", ECHO)
    done = steward("job", "cancel", str(job_id))
    assert done.returncode == 0
    assert done.stdout.strip() == f"job {job_id} cancelled"
    assert steward.job(job_id)["state"] == "cancelled"
    again = steward("job", "cancel", str(job_id))
    assert again.returncode == 0
    assert "already cancelled" in again.stdout
    retried = steward("job", "retry", str(job_id))
    assert retried.returncode == 0
    assert steward.job(job_id)["state"] == "ready"
    refused = steward("job", "retry", str(job_id))
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"steward: job {job_id} is ready;")


def test_worker_list(steward: Steward) -> None:
    workers = steward.json("worker", "list")
    assert {(w["name"], w["backend"], w["persistent"]) for w in workers} == {
        ("shell", "shell", False), ("skill", "skill", False),
        ("claude_code", "claude_code", False), ("codex", "codex", False)}
    assert steward("worker", "list").stdout.splitlines()[0].split() == [
        "NAME", "BACKEND", "MODEL", "KIND", "PROJECT", "SESSIONS", "STATE", "USD", "USED"]


def test_doctor_on_a_fresh_data_dir(steward: Steward) -> None:
    done = steward("doctor")
    assert done.returncode == 0, done.stdout
    checks = {c["name"]: c for c in steward.json("doctor")}
    for name in ("settings", "data dir", "database", "integrity", "schema", "disk", "backends"):
        assert checks[name]["status"] == "ok", checks[name]
    assert checks["backends"]["detail"] == "shell, skill"
    assert checks["steward run"]["status"] == "warn"
    assert checks["providers"]["status"] == "warn"


def test_doctor_reports_a_bad_setting(steward: Steward) -> None:
    done = steward("doctor", STEWARD_SLOTS="0")
    assert done.returncode == 1
    assert done.stdout.strip() == "fail  settings  STEWARD_SLOTS: must be at least 1 (got 0)"


def _pipeline(tmp: Path, name: str, text: str) -> str:
    path = tmp / name
    path.write_text(text)
    return str(path)


PIPELINE = """\
name: demo
steps:
  - {name: fetch, backend: skill, payload: {skill: echo, args: {n: 1}}}
  - name: use
    backend: skill
    needs: [fetch]
    payload: {skill: echo, args: {x: "{{prev_result}}"}}
"""


def test_pipeline_run_enqueues_the_graph(steward: Steward, tmp_path: Path) -> None:
    queued = steward.json("pipeline", "run", _pipeline(tmp_path, "p.yaml", PIPELINE))
    assert queued == {"jobs": {"fetch": 1, "use": 2}, "answer": 2}
    assert steward.job(1)["state"] == "ready"
    assert steward.job(2)["state"] == "waiting"
    assert steward.job(2)["needs"] == [{"job_id": 1, "name": "fetch", "state": "ready"}]
    text = steward("pipeline", "run", _pipeline(tmp_path, "q.yaml", PIPELINE)).stdout
    assert text.startswith("pipeline queued: 2 jobs; the answer is job 4\n")


CYCLE = """\
name: loop
steps:
  - {name: a, backend: skill, needs: [b], payload: {skill: echo}}
  - {name: b, backend: skill, needs: [a], payload: {skill: echo}}
"""
UNKNOWN_VAR = """\
name: v
steps:
  - {name: a, backend: skill, payload: {skill: echo, args: {x: "{{nope}}"}}}
"""
LLM_STEP = """\
name: v
steps:
  - {name: ask, backend: llm, payload: {prompt: hi}}
"""

BAD_INPUT = [
    (["job", "submit", "--backend", "nope"],
     "unknown backend 'nope'; use one of: claude_code, codex, shell, skill"),
    (["job", "submit", "--backend", "llm"], "backend 'llm' is not configured here"),
    (["job", "submit", "--backend", "group"], "unknown backend 'group'"),
    (["job", "submit", "--backend", "skill", "--payload", "{oops"],
     "--payload is not valid JSON"),
    (["job", "submit", "--backend", "skill", "--payload", "[1, 2]"],
     "payload must be a JSON object, not list"),
    (["job", "submit", "--backend", "skill", "--priority", "-1"],
     "priority must be a whole number from 0 (most urgent) to 5, not -1"),
    (["job", "submit", "--backend", "skill", "--priority", "6"], "not 6"),
    (["job", "submit", "--backend", "skill", "--timeout", "0"],
     "timeout_s must be a positive number of seconds"),
    (["job", "submit", "--backend", "skill", "--max-attempts", "0"],
     "max_attempts must be at least 1"),
    (["job", "submit", "--backend", "skill", "--command", "ls"],
     "--command goes with --backend shell"),
    (["job", "submit", "--backend", "shell", "--command", "ls", "--payload", "{}"],
     "not allowed with argument"),
    (["job", "submit"], "the following arguments are required: --backend"),
    (["job", "show", "99"], "no job with id 99"),
    (["job", "show", "abc"], "invalid int value: 'abc'"),
    (["job", "cancel", "99"], "no job with id 99"),
    (["job", "retry", "99"], "no job with id 99"),
    (["job", "list", "--limit", "0"], "must be at least 1, not 0"),
    (["job", "list", "--status", "sleeping"], "invalid choice: 'sleeping'"),
    (["job", "list", "--sort", "name"], "invalid choice: 'name'"),
    (["job"], "the following arguments are required: ACTION"),
    ([], "the following arguments are required: COMMAND"),
    (["pipeline", "run", "FILE:missing.yaml"], "cannot read pipeline file"),
    (["pipeline", "run", "FILE:notes.txt"], "a pipeline file ends in .yaml, .yml or .json"),
    (["pipeline", "run", "FILE:broken.yaml"], "is not valid YAML"),
    (["pipeline", "run", "FILE:cycle.yaml"], "the steps form a cycle"),
    (["pipeline", "run", "FILE:var.yaml"], "{{nope}}, which is not a variable here"),
    (["pipeline", "run", "FILE:llm.yaml"], "step 'ask': backend 'llm' is not configured here"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_exits_2_with_one_line(steward: Steward, tmp_path: Path, args: list[str],
                                         message: str) -> None:
    files = {"notes.txt": "hello", "broken.yaml": "steps: [\n", "cycle.yaml": CYCLE,
             "var.yaml": UNKNOWN_VAR, "llm.yaml": LLM_STEP}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    args = [str(tmp_path / a[5:]) if a.startswith("FILE:") else a for a in args]
    done = steward(*args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("steward: ")
    assert done.stderr.count("\n") == 1
    assert message in done.stderr
    assert done.stdout == ""


def test_nothing_is_stored_by_bad_input(steward: Steward) -> None:
    steward("job", "submit", "--backend", "skill", "--priority", "9")
    assert steward.json("job", "list") == []


def test_bad_config_exits_3_without_showing_secrets(steward: Steward) -> None:
    done = steward("job", "list", STEWARD_SLOTS="0")
    assert done.returncode == 3
    assert done.stderr == "steward: STEWARD_SLOTS: must be at least 1 (got 0)\n"
    canary = "123456:very-secret-token"
    done = steward("job", "list", STEWARD_TELEGRAM_TOKEN=canary)
    assert done.returncode == 3
    assert "STEWARD_TRUSTED_USER_ID" in done.stderr
    assert canary not in done.stderr + done.stdout


@pytest.mark.parametrize("command", [["job", "list"], ["job", "submit", "--backend", "skill"],
                                     ["worker", "list"], ["run"]])
def test_corrupt_database_exits_3_and_is_left_alone(steward: Steward,
                                                    command: list[str]) -> None:
    steward.data_dir.mkdir()
    db = steward.data_dir / "steward.db"
    garbage = os.urandom(8192)
    db.write_bytes(garbage)
    done = steward(*command)
    assert done.returncode == 3
    assert done.stderr.startswith("steward: database ")
    assert "damaged" in done.stderr
    assert done.stderr.count("\n") == 1
    assert db.read_bytes() == garbage


def test_doctor_fails_on_a_corrupt_database(steward: Steward) -> None:
    steward.data_dir.mkdir()
    (steward.data_dir / "steward.db").write_bytes(b"not a database at all" * 100)
    done = steward("doctor")
    assert done.returncode == 1
    assert any(line.startswith("fail  database") for line in done.stdout.splitlines())


def test_unusable_data_dir_exits_3(steward: Steward, tmp_path: Path) -> None:
    if os.geteuid() == 0:  # root writes through chmod: use a path under a regular file
        blocker = tmp_path / "a-file"
        blocker.write_text("")
        data_dir = blocker / "data"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        data_dir = locked / "data"
    for command in (["job", "list"], ["run"]):
        done = steward(*command, STEWARD_DATA_DIR=str(data_dir))
        assert done.returncode == 3
        assert done.stderr.startswith(f"steward: data dir {data_dir} is not usable")
    doctor = steward("doctor", STEWARD_DATA_DIR=str(data_dir))
    assert doctor.returncode == 1
    assert "fail  data dir" in doctor.stdout
