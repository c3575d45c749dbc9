"""The chaos harness: the real ``steward run`` under combined faults, over a mixed workload.

One run: a fake Telegram Bot API and a fake model provider on 127.0.0.1 (the provider answers a
share of calls with 429s, 5xx, dropped connections and garbage; the Bot API now and then
answers 429, 502 or stalls), ``steward run`` as a subprocess, and waves of work submitted to
its database while it runs — shell jobs with side effects, fan-out pipelines, races, background
model calls — plus the owner's chat messages through Telegram. Between waves the process is
SIGKILLed at a random moment and started again. At the end every job must have ended exactly
once, every side effect must have happened at most once, and every answer owed to the owner
must have been delivered. ``bench/chaos.py`` runs it at full size; ``tests/e2e/test_chaos.py``
runs a small one.
"""

from __future__ import annotations

import asyncio
import json
import random
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bot.telegram.handlers import NOT_STORED
from engine.loop import Engine, EngineConfig
from engine.model import BackendName, JobSpec, JobState, Origin
from engine.promise import Promise
from engine.promise import submit as submit_promise
from engine.store.sqlite import SqliteStore
from tests.canary import CANARY_OPENAI_KEY
from tests.fakes.llm_servers import FakeLLM
from tests.fakes.telegram_server import FakeTelegram, Fault

OWNER = 4242
PROVIDER_FAULT_RATE = 0.3


@dataclass(frozen=True)
class ChaosPlan:
    jobs: int = 2000
    kills: int = 20
    chats_per_wave: int = 2
    seed: int = 20261124
    settle_timeout_s: float = 600.0
    slots: int = 20
    full_disk: bool = True
    """One wave on a full disk."""


@dataclass
class ChaosReport:
    submitted: int = 0
    done: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    cancelled: int = 0
    lost: int = 0
    side_effects: int = 0
    repeated_effects: int = 0
    chats: int = 0
    chats_refused: int = 0
    """Owner messages the full disk kept out, each answered "send it again"."""
    answers_owed: int = 0
    answers_lost: int = 0
    answers_duplicated: int = 0
    kills: int = 0
    recoveries: int = 0
    provider_faults: int = 0
    telegram_faults: int = 0
    disk_full_waves: int = 0
    disk_full_exits: int = 0
    """Times ``steward run`` stopped by itself on the full disk (its exit codes in ``problems``
    unless 3, the one-line "environment" exit)."""
    wall_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    def figures(self) -> dict[str, object]:
        return {
            "jobs_submitted": self.submitted, "jobs_done": self.done,
            "jobs_failed": sum(self.failed.values()), "jobs_cancelled": self.cancelled,
            "jobs_lost": self.lost, "side_effects": self.side_effects,
            "side_effects_repeated": self.repeated_effects, "chats": self.chats,
            "chats_refused": self.chats_refused,
            "notifications_owed": self.answers_owed,
            "notifications_lost": self.answers_lost,
            "notifications_duplicated": self.answers_duplicated, "sigkills": self.kills,
            "recoveries": self.recoveries, "provider_faults": self.provider_faults,
            "telegram_faults": self.telegram_faults, "disk_full_waves": self.disk_full_waves,
            "disk_full_exits": self.disk_full_exits, "wall_s": round(self.wall_s, 1)}

    def table(self) -> str:
        rows = [f"{k:<26}{v}" for k, v in self.figures().items()]
        rows += [f"  failed: {reason:<40}{n}" for reason, n in self.failed.most_common(8)]
        rows += [f"  problem: {p}" for p in self.problems[:10]]
        return "\n".join(rows)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Run:
    """The process under test, restarted after every kill."""

    def __init__(self, env: dict[str, str], cwd: Path, log: Path, data: Path) -> None:
        self._env, self._cwd, self._log, self._data = env, cwd, log, data
        self.proc: subprocess.Popen[bytes] | None = None
        self.full_disk = False
        self.exits: list[int] = []

    def start(self, full_disk: bool = False) -> None:
        """Start ``steward run``; with ``full_disk``, no file it writes may grow more than
        ``DISK_HEADROOM`` past the database's size (writes beyond fail as on a full disk)."""
        self.full_disk = full_disk
        limit = (max((f.stat().st_size for f in self._data.glob("steward.db*")), default=0)
                 + DISK_HEADROOM) if full_disk else None
        log = self._log.with_name("run-full-disk.log") if full_disk else self._log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], cwd=self._cwd, env=self._env,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=out,
                preexec_fn=None if limit is None else lambda: _limit_files(limit))

    def kill(self) -> bool:
        """SIGKILL it; True if it had already stopped itself on the full disk."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            if self.full_disk:  # stopping itself on a full disk is allowed; its log is checked
                self.exits.append(self.proc.returncode)
                return True
            raise AssertionError(f"steward exited by itself ({self.proc.returncode}): "
                                 f"{self._log.read_text()[-3000:]}")
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        return False

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


DISK_HEADROOM = 4 << 10


def _limit_files(limit: int) -> None:
    """In the child: a file-size limit makes writes past it fail (EFBIG), as a full disk does."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


class _Workload:
    """Submits waves of mixed work straight into the database, as another process would."""

    def __init__(self, db: Path, effects: Path, rng: random.Random) -> None:
        self._store = SqliteStore.open(db)
        self._engine = Engine(self._store, {}, EngineConfig(data_dir=db.parent))
        self._effects = effects
        self._rng = rng
        self._n = 0
        self.effect_keys: list[str] = []

    def close(self) -> None:
        self._store.close()

    def _effect(self) -> JobSpec:
        """A shell job that appends its own key to the effects file once, after a pause."""
        self._n += 1
        key = f"fx-{self._n:05d}"
        self.effect_keys.append(key)
        pause = self._rng.choice([0, 0, 0.05, 0.1, 0.3])
        return JobSpec(BackendName.SHELL, {"command": f"sleep {pause} && echo {key} >> "
                                                      f"{self._effects}"},
                       priority=self._rng.randint(0, 5), origin=Origin.SYSTEM,
                       idempotency_key=key, name="chaos effect")

    def _model(self) -> JobSpec:
        self._n += 1
        return JobSpec(BackendName.LLM, {"prompt": f"summarise item {self._n}"},
                       priority=self._rng.randint(2, 5), origin=Origin.SYSTEM,
                       idempotency_key=f"llm-{self._n:05d}", name="chaos model call")

    def _sleep(self) -> JobSpec:
        seconds = self._rng.choice([0.05, 0.2, 0.5])
        return JobSpec(BackendName.SKILL, {"skill": "sleep", "args": {"seconds": seconds}},
                       origin=Origin.SYSTEM, name="chaos race")

    def wave(self, rows: int) -> int:
        """Submit about ``rows`` job rows; returns how many were made."""
        made = 0
        while made < rows:
            pick = self._rng.random()
            if pick < 0.55:
                self._engine.submit(self._effect())
                made += 1
            elif pick < 0.75:  # fan-out of effects, then a step that sees all their results
                fan = Promise.all(*[self._effect() for _ in range(3)]).then(JobSpec(
                    BackendName.SKILL, {"skill": "echo", "args": {"all": "{{all_results}}"}},
                    origin=Origin.PIPELINE, name="chaos fan-in"))
                submit_promise(self._engine, fan)
                made += 5
            elif pick < 0.9:  # a race: the first sleep wins, the others are cancelled
                submit_promise(self._engine, Promise.race(*[self._sleep() for _ in range(3)]))
                made += 4
            else:
                self._engine.submit(self._model())
                made += 1
        return made


def _env(data: Path, fake: FakeTelegram, llm: FakeLLM, plan: ChaosPlan) -> dict[str, str]:
    from tests.conftest import clean_environ

    return {**clean_environ(), "STEWARD_DATA_DIR": str(data),
            "STEWARD_TELEGRAM_TOKEN": fake.token, "STEWARD_TRUSTED_USER_ID": str(OWNER),
            "STEWARD_TELEGRAM_BASE_URL": fake.base_url, "PYTHONUNBUFFERED": "1",
            "STEWARD_METRICS_ADDR": f"127.0.0.1:{free_port()}", "STEWARD_TICK_SECONDS": "1",
            "STEWARD_SLOTS": str(plan.slots), "STEWARD_GRACE_SECONDS": "2",
            "STEWARD_RETRY_DELAYS": "0.5,1,2", "STEWARD_DAILY_SPEND_CAP_USD": "1000",
            "OPENAI_API_KEY": CANARY_OPENAI_KEY, "OPENAI_BASE_URL": llm.openai_url,
            "PTB_TIMEDELTA": "1"}


TELEGRAM_FAULTS = (
    Fault(429, "Too Many Requests: retry after 1", 1),
    Fault(502, "Bad Gateway", None),
    Fault(429, "Too Many Requests: retry after 1", 1, stall_s=2.0),  # a wedged connection
)


def _telegram_fault(fake: FakeTelegram, rng: random.Random) -> None:
    method = rng.choice(["sendMessage", "sendMessage", "sendChatAction", "getUpdates"])
    fake.fail_next(method, rng.choice(TELEGRAM_FAULTS))


async def run_chaos(plan: ChaosPlan, tmp: Path,
                    progress: Callable[[str], None] = lambda _: None) -> ChaosReport:
    rng = random.Random(plan.seed)
    report = ChaosReport()
    data, effects, log = tmp / "data", tmp / "effects.txt", tmp / "run.log"
    fake, llm = FakeTelegram(), FakeLLM()
    await fake.start()
    await llm.start()
    llm.chaos(PROVIDER_FAULT_RATE, seed=plan.seed)
    started = time.monotonic()
    run = _Run(_env(data, fake, llm, plan), tmp, log, data)
    workload: _Workload | None = None
    try:
        run.start()
        await _until(lambda: (data / "steward.db").exists(), 30, "the database")
        await fake.wait_sent("setMyCommands", timeout_s=60)
        workload = _Workload(data / "steward.db", effects, rng)
        waves = plan.kills + 1
        for wave in range(waves):
            report.submitted += workload.wave(plan.jobs // waves)
            for _ in range(plan.chats_per_wave):
                report.chats += 1
                fake.message(OWNER, f"hello chat-{report.chats:04d}")
            if rng.random() < 0.5:
                _telegram_fault(fake, rng)
                report.telegram_faults += 1
            # on the full disk, long enough for steward to start and run into it
            await asyncio.sleep(rng.uniform(0.3, 2.0) + (5.0 if run.full_disk else 0.0))
            if wave < plan.kills:
                report.disk_full_exits += run.kill()
                report.kills += 1
                full = plan.full_disk and wave + 1 == waves // 2  # one wave on a full disk
                report.disk_full_waves += full
                run.start(full_disk=full)
            progress(f"wave {wave + 1}/{waves}: {report.submitted} jobs, {report.kills} kills")
        await _until(lambda: _settled(data / "steward.db", report.submitted, report.chats),
                     plan.settle_timeout_s, "every job to end and every answer to go out")
        code = run.stop()
        if code != 0:
            report.problems.append(f"SIGTERM exit code {code}")
    finally:
        if workload is not None:
            workload.close()
        if run.proc is not None and run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait()
        await fake.stop()
        await llm.stop()
    report.wall_s = time.monotonic() - started
    report.problems += [f"stopped on the full disk with exit code {code}"
                        for code in run.exits if code != 3]
    report.provider_faults = len(llm.faults_served)
    assert workload is not None
    _account(report, data / "steward.db", effects, workload.effect_keys, fake)
    for name in (log, log.with_name("run-full-disk.log")):
        if name.exists() and "Traceback" in name.read_text(errors="replace"):
            report.problems.append(f"a traceback in {name.name}")
    return report


async def _until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(0.2)


def _query(db: Path, sql: str) -> tuple[int, ...]:
    """One row of a read-only query on the live database, as another process would read it."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return tuple(int(v or 0) for v in conn.execute(sql).fetchone())
    finally:
        conn.close()


def _settled(db: Path, submitted: int, chats: int) -> bool:
    open_jobs, total = _query(db, "SELECT sum(state NOT IN ('done','failed','cancelled','dead')), "
                                  "count(*) FROM jobs")
    (unsent,) = _query(db, "SELECT count(*) FROM outbox WHERE sent_at IS NULL")
    return open_jobs == 0 and unsent == 0 and total >= submitted + chats


def _account(report: ChaosReport, db: Path, effects: Path, keys: list[str],
             fake: FakeTelegram) -> None:
    store = SqliteStore.open(db)
    try:
        jobs = store.list_jobs(1 << 30)
    finally:
        store.close()
    owed = _query(db, "SELECT count(*), sum(sent_at IS NULL) FROM outbox "
                      "WHERE topic = 'job_finished'")
    by_key = {j.idempotency_key: j for j in jobs if j.idempotency_key}
    for job in jobs:
        report.recoveries += job.recoveries
        if job.state is JobState.DONE:
            report.done += 1
        elif job.state is JobState.FAILED:
            report.failed[f"{job.backend.value}: {job.failure_class or 'other'}"] += 1
        elif job.state is JobState.DEAD:  # recovered too often: dead-lettered, not lost
            report.failed[f"{job.backend.value}: dead letter"] += 1
        elif job.state is JobState.CANCELLED:
            report.cancelled += 1
        else:
            report.lost += 1
    report.lost += sum(1 for k in keys if k not in by_key)
    written = Counter(effects.read_text().split()) if effects.exists() else Counter()
    report.side_effects = sum(written.values())
    report.repeated_effects = sum(n - 1 for n in written.values() if n > 1)
    for key in keys:
        job = by_key.get(key)
        if job is not None and job.state is JobState.DONE and written[key] != 1:
            report.problems.append(f"{key} is done but its effect happened {written[key]}x")
    chat_jobs = [j for j in jobs if (j.idempotency_key or "").startswith("req:")]
    report.answers_owed, report.answers_lost = owed
    report.chats_refused = sum(NOT_STORED in str(s.params.get("text", ""))
                               for s in fake.sent_by("sendMessage"))
    report.lost += max(report.chats - len(chat_jobs) - report.chats_refused, 0)
    texts = Counter(token for s in fake.sent_by("sendMessage")
                    if s.params.get("chat_id") == OWNER
                    for token in _chat_tokens(str(s.params.get("text", ""))))
    report.answers_duplicated = sum(n - 1 for n in texts.values() if n > 1)


def _chat_tokens(text: str) -> set[str]:
    return {word.strip(".,:;!?<>\"'") for word in text.split() if word.startswith("chat-")}


def main_json(report: ChaosReport) -> str:
    return json.dumps(report.figures())
