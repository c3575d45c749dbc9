"""The built-in skills, composed into one registry behind one trust gate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from engine.model import JSON
from engine.workers.backend import RunContext
from security.paths import protected_paths
from security.risk import Risk
from skills.ask_owner import AskOwner
from skills.diagnostic import DIAGNOSTIC
from skills.engine_link import EngineLink
from skills.files import Files, FilesConfig
from skills.gate import Gate
from skills.job_tools import JobTools
from skills.memory_tools import SCHEMAS, MemoryTools
from skills.phone import AdbConfig, Phone
from skills.registry import Registry
from skills.shell_tool import ShellTool
from skills.skill import Skill, SkillRun
from skills.web import WebConfig, WebFetcher

WORKSPACE_DIR = "workspace"
MEMORY_RISKS = {"recall": Risk.LOW, "remember": Risk.MEDIUM, "core_edit": Risk.MEDIUM}


def memory_skills(open_tools: Callable[[], Awaitable[MemoryTools]]) -> list[Skill]:
    """The memory tools as skills: recalling is low risk, remembering medium (a data job's
    memory waits for the owner), and core memory never takes an edit from a data job.
    ``open_tools`` opens memory at the first call, so skills exist before memory does."""
    def bind(name: str) -> SkillRun:
        async def run(args: dict[str, JSON], ctx: RunContext) -> JSON:
            return await (await open_tools()).skills()[name](args, ctx)
        return run

    return [Skill(name, SCHEMAS[name]["description"], SCHEMAS[name]["parameters"],
                  MEMORY_RISKS[name], bind(name), data_refused=name == "core_edit")
            for name in SCHEMAS]


def builtin_registry(link: EngineLink, data_dir: Path, *, workspace: Path | None = None,
                     web: WebConfig | WebFetcher | None = None, adb: AdbConfig | None = None,
                     memory: Callable[[], Awaitable[MemoryTools]] | None = None,
                     extra: Iterable[Skill] = ()
                     ) -> Registry:
    """Every built-in skill over ``link``'s engine: files in ``workspace`` (default
    ``<data_dir>/workspace``), web fetches under ``web`` (a config, or a fetcher with its own
    resolver), the phone over ``adb``, memory when given (opened at its first use), and ``extra``
    skills (e-mail) — all behind one gate."""
    room = workspace or data_dir / WORKSPACE_DIR
    files = Files(FilesConfig(room, protected_paths(data_dir)))
    fetcher = web if isinstance(web, WebFetcher) else WebFetcher(web or WebConfig())
    skills: list[Skill] = [
        *DIAGNOSTIC, *files.skills(), fetcher.skill(),
        ShellTool(link).skill(), *Phone(adb or AdbConfig(), room).skills(),
        AskOwner(link).skill(), *extra]
    if memory is not None:
        skills += memory_skills(memory)
    registry = Registry(Gate(link), skills)
    for skill in JobTools(link, gated=lambda name: name in registry).skills():
        registry.register(skill)
    return registry
