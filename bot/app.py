"""The composition root: builds the store, backends and engine from the settings, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from bot import render
from bot.errors import AlreadyRunning, AppError, ConfigError
from bot.mail_wiring import install_mail
from bot.memory_wiring import LazyMemory, MemoryParts
from bot.models import LazyLlm
from bot.rhythms_wiring import Rhythms
from bot.rhythms_wiring import install as install_rhythms
from bot.settings import Settings, engine_config
from engine.admission import Admission
from engine.cards import Cards
from engine.errors import StoreError
from engine.gateway.config import RoutingTable, load_table
from engine.gateway.errors import ModelsFileError
from engine.judgment_gate import JudgmentGate
from engine.loop import Engine
from engine.model import BackendName
from engine.rules.judgment import GATE_SKILL
from engine.selfheal import SelfHealer
from engine.signals import Fail
from engine.store.sqlite import SqliteStore
from engine.workers.backend import Backend
from engine.workers.coding_agent import agent_backends
from engine.workers.sessions import SessionRepo, WorkerConfig
from engine.workers.shell import ShellBackend
from engine.workers.skill import SkillBackend
from security.redaction import register_secrets
from skills import diagnostic
from skills.engine_link import EngineLink

if TYPE_CHECKING:  # the gateway's SDKs and memory's models load only when they are used
    from engine.gateway.router import Gateway
    from rhythms.rhythm import Rhythm
    from skills.memory_tools import MemoryTools
    from skills.registry import Registry

log = logging.getLogger("steward")

DB_FILE = "steward.db"
LOCK_FILE = "steward.lock"
WORKSPACE_DIR = "workspace"
LOCK_WAIT_S = 0.3
"""How long ``run`` retries a held lock: long enough to outlast a doctor's probe."""


@dataclass
class App:
    """Everything ``build`` made; ``close`` gives it back."""

    settings: Settings
    store: SqliteStore
    engine: Engine
    shell: ShellBackend
    backends: dict[BackendName, Backend]
    lock: RunLock | None = None
    llm: LazyLlm | None = None
    """The ``llm`` backend when a model provider is configured, built on its first job (or
    when ``steward run`` warms it); ``run`` closes its clients at the end."""
    memory: LazyMemory | None = None
    """Memory, opened on first use; whoever runs the loop awaits ``memory.close()``."""
    rhythms: Rhythms | None = None
    """The rhythms: their skills are registered; ``steward run`` runs their scheduler."""
    skills: Registry | None = None
    """The skill registry (tools with risk tiers, behind the trust gate), for listings."""

    @property
    def gateway(self) -> Gateway | None:
        """The model gateway, once the ``llm`` backend has been built."""
        return self.llm.gateway if self.llm is not None else None

    def close(self) -> None:
        self.store.close()
        if self.lock is not None:
            self.lock.release()


class RunLock:
    """An exclusive ``flock`` on ``steward.lock``: one ``steward run`` per data dir."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    @classmethod
    def take(cls, data_dir: Path) -> RunLock:
        fd = _open_lock(data_dir)
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    pid = _read_pid(fd)
                    os.close(fd)
                    raise AlreadyRunning(f"another `steward run` is already using {data_dir} "
                                         f"(pid {pid or 'unknown'})") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd)

    def release(self) -> None:
        os.ftruncate(self._fd, 0)
        os.close(self._fd)


def _open_lock(data_dir: Path) -> int:
    try:
        return os.open(data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise AppError(f"cannot open the lock file in {data_dir}: {exc.strerror}") from None


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


def lock_holder(data_dir: Path) -> int | None:
    """The pid of the ``steward run`` using ``data_dir`` (0 if unknown), or None if none is.
    Probes with a shared lock held for an instant; ``RunLock.take`` retries past such a probe."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY)
    except OSError:  # no lock file: no run has ever used this data dir
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _read_pid(fd) or 0
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def prepare_data_dir(data_dir: Path) -> None:
    """Create the data dir if needed and make sure this process may write in it."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=data_dir):
            pass
    except OSError as exc:
        raise AppError(f"data dir {data_dir} is not usable: {exc.strerror} "
                       "(set STEWARD_DATA_DIR to a writable folder)") from None


def make_shell(data_dir: Path) -> ShellBackend:
    """The shell backend, running commands in the workspace under the data dir."""
    workspace = data_dir / WORKSPACE_DIR
    try:
        workspace.mkdir(exist_ok=True)
    except OSError as exc:
        raise AppError(f"cannot create {workspace}: {exc.strerror}") from None
    return ShellBackend(workspace=workspace)


def make_backends(shell: ShellBackend, store: SqliteStore | None = None,
                  skills: Registry | None = None) -> dict[BackendName, Backend]:
    """The backends this process runs: shell commands, the built-in skills (the registry's,
    behind the trust gate, when given) and, with the store that keeps their sessions, the
    coding agents (``claude``/``codex`` on PATH)."""
    skill = skills.skill_backend() if skills is not None else SkillBackend(diagnostic.SKILLS)
    backends: dict[BackendName, Backend] = {BackendName.SHELL: shell, BackendName.SKILL: skill}
    if store is not None:
        backends.update(agent_backends(SessionRepo(store), shell.workspace, time.time))
    return backends


def make_memory(settings: Settings, store: SqliteStore) -> MemoryParts:
    """Memory for the data dir: core memory (seeded when missing), archival memory (LanceDB
    opens on first use) and working sessions; ``await parts.close()`` when done."""
    from bot.memory_wiring import open_memory

    return open_memory(settings, store)


def seed_workers(store: SqliteStore, backends: dict[BackendName, Backend], now: float) -> None:
    """One ephemeral worker row per backend, so every backend shows in ``worker list``; a row
    the owner configured (``steward worker add``) is left as it is."""
    repo = SessionRepo(store)
    with store.transaction():
        for name in backends:
            repo.add_worker(WorkerConfig(name.value, name.value), now)


def build(settings: Settings, *, lock: bool = False) -> App:
    """Open the store in the data dir and wire the engine; ``lock`` for ``steward run`` only."""
    register_secrets(settings.secret_values())
    data_dir = settings.data_dir
    prepare_data_dir(data_dir)
    with contextlib.ExitStack() as undo:
        run_lock = RunLock.take(data_dir) if lock else None
        if run_lock is not None:
            undo.callback(run_lock.release)
        store = SqliteStore.open(data_dir / DB_FILE)
        undo.callback(store.close)
        shell = make_shell(data_dir)
        memory = LazyMemory(settings, store)
        link = EngineLink()
        skills = make_skills(settings, link, memory)
        backends = make_backends(shell, store, skills)
        llm = make_llm(settings, store, memory, skills) if settings.providers else None
        if llm is not None:
            backends[BackendName.LLM] = llm
        install_judgment_gate(store, backends, llm)
        seed_workers(store, backends, time.time())
        engine = Engine(store, backends, engine_config(settings),
                        admission=Admission(settings.data_dir))
        link.bind(engine)
        for mail_skill in install_mail(settings, backends, engine).skills:
            skills.register(mail_skill)
        rhythms = install_rhythms(settings, store, backends, engine, memory, llm,
                                  extra=ops_rhythms(settings, backends))
        undo.pop_all()
    return App(settings, store, engine, shell, backends, run_lock, llm, memory, rhythms,
               skills=skills)


def make_skills(settings: Settings, link: EngineLink, memory: LazyMemory) -> Registry:
    """The built-in skills behind the trust gate, over the engine ``link`` is bound to once
    it is built; memory opens at the first memory tool call."""
    from skills.catalog import builtin_registry  # httpx and the tools load only to run
    from skills.phone import AdbConfig
    from skills.web import WebConfig

    async def memory_tools() -> MemoryTools:
        return (await memory()).tools()

    return builtin_registry(
        link, settings.data_dir, memory=memory_tools,
        web=WebConfig(allow_private=settings.web_allow_private),
        adb=AdbConfig(settings.adb_host, settings.adb_port, settings.adb_serial))


def ops_rhythms(settings: Settings, backends: dict[BackendName, Backend]) -> list[Rhythm]:
    """The nightly backup and weekly restore drill, with their skills registered."""
    from bot.cli_ops import install_ops  # it builds on this module's names

    return install_ops(settings, backends)


def install_judgment_gate(store: SqliteStore, backends: dict[BackendName, Backend],
                          llm: LazyLlm | None) -> None:
    """The judgment layer's model gate, as the ``judge`` skill on the cheap tier; with no
    model (or none that connects) every undecided background result goes to the digest."""
    skill = backends.get(BackendName.SKILL)
    if not isinstance(skill, SkillBackend):
        return

    async def connect() -> Gateway | None:
        if llm is None:
            return None
        await llm.ready()
        return llm.gateway

    skill.register(GATE_SKILL, JudgmentGate(store, connect=connect))


PERSONA = ("You are Steward, a personal assistant working for one person. Be brief, exact and "
           "honest about what you did and did not do.")


def make_llm(settings: Settings, store: SqliteStore, memory: LazyMemory | None = None,
             skills: Registry | None = None) -> LazyLlm:
    """The ``llm`` backend on the gateway, built on its first job (the provider SDKs take
    seconds to import); the routing table is checked now, so a bad one stops the start.
    With ``memory``, every session gets core memory and recall; the model's tools are the
    ``skills`` registry's, every call through its trust gate (else memory's own tools)."""
    table = routing_table(settings)

    def backend(gateway: Gateway) -> Backend:
        from engine.workers.llm import LlmBackend, LlmConfig
        from engine.workers.llm_tokens import cl100k_counter

        tools = (skills.llm_tools() if skills is not None
                 else memory.llm_tools() if memory is not None else ())
        return LlmBackend(gateway, tools, context=memory, count_tokens=cl100k_counter(),
                          config=LlmConfig(persona=PERSONA, zone=settings.zone))

    return LazyLlm(lambda: make_gateway(settings, store, table), backend)


def routing_table(settings: Settings) -> RoutingTable:
    """The routing table in use; one that does not load is a ``ConfigError`` (one line)."""
    try:
        return load_table(settings.models_file)
    except ModelsFileError as exc:
        raise ConfigError(str(exc)) from None


def make_gateway(settings: Settings, store: SqliteStore,
                 table: RoutingTable | None = None) -> Gateway | None:
    """The model gateway over the configured providers (on ``table``, else the settings'
    routing table), or None when none is configured."""
    # The provider SDKs take seconds to import: only a process that uses a model pays that.
    from engine.gateway.providers import Endpoints, connect
    from engine.gateway.repo import GatewayRepo
    from engine.gateway.router import Gateway, GatewayConfig

    table = table or routing_table(settings)

    def secret(value: SecretStr | None) -> str | None:
        return None if value is None else value.get_secret_value()

    providers = connect(Endpoints(
        openai_key=secret(settings.openai_api_key), openai_base_url=settings.openai_base_url,
        anthropic_key=secret(settings.anthropic_api_key),
        anthropic_base_url=settings.anthropic_base_url,
        openrouter_key=secret(settings.openrouter_api_key),
        ollama_base_url=settings.ollama_base_url))
    if not providers:
        return None
    config = GatewayConfig(settings.daily_spend_cap_usd, settings.zone)
    return Gateway(providers, table, GatewayRepo(store), config)


async def run(app: App, stop: asyncio.Event, status_every_s: float = 60.0) -> None:
    """Run the engine until ``stop`` is set; log a status line when something changed."""
    names = ", ".join(sorted(b.value for b in app.backends))
    log.info("started: data dir %s, %d slots, backends %s",
             app.settings.data_dir.resolve(), app.settings.slots, names)
    swept = app.shell.sweep(app.settings.data_dir, app.store.effects_live_refs())
    if swept:
        log.info("removed %d stale shell run folder(s)", swept)
    reporter = asyncio.create_task(_report(app.store, status_every_s))
    healer = asyncio.create_task(make_healer(app).run(stop))
    try:
        await app.engine.run(stop)
    finally:
        for task in (reporter, healer):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if app.llm is not None:
            await app.llm.aclose()
    log.info("stopped")


def make_healer(app: App) -> SelfHealer:
    """Self-heal and incident cards; diagnoses use the gateway, built when first needed."""
    async def gateway() -> Gateway | None:
        if app.llm is None:
            return None
        try:
            await app.llm.ready()
        except Fail:  # no provider connects: nothing to diagnose with
            return None
        return app.llm.gateway

    return SelfHealer(app.store, gateway, app.engine.retry, Cards(app.store, time.time))


async def _report(store: SqliteStore, every_s: float) -> None:
    before = store.count_by_state()
    while True:
        await asyncio.sleep(every_s)
        try:
            after = store.count_by_state()
        except StoreError as exc:  # busy for a moment: the next round reports it
            log.warning("status: %s", exc)
            continue
        if after != before:
            log.info("%s", render.status_line(before, after))
            before = after


def serve(app: App) -> None:
    """``steward run``: the engine with the Telegram bot (with a token), the console (on a
    terminal) or neither, and the health endpoint, until SIGTERM or SIGINT; then a clean stop."""
    from bot import process  # python-telegram-bot and aiohttp load only for the running process

    process.serve(app)
