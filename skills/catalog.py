"""The built-in skills, composed into one registry behind one trust gate."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

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
from skills.skill import Skill
from skills.web import WebConfig, WebFetcher

WORKSPACE_DIR = "workspace"
MEMORY_RISKS = {"recall": Risk.LOW, "remember": Risk.MEDIUM, "core_edit": Risk.MEDIUM}


def memory_skills(tools: MemoryTools) -> list[Skill]:
    """The memory tools as skills: recalling is low risk, remembering medium (a data job's
    memory waits for the owner), and core memory never takes an edit from a data job."""
    fns = tools.skills()
    return [Skill(name, SCHEMAS[name]["description"], SCHEMAS[name]["parameters"],
                  MEMORY_RISKS[name], fns[name], data_refused=name == "core_edit")
            for name in SCHEMAS]


def builtin_registry(link: EngineLink, data_dir: Path, *, workspace: Path | None = None,
                     web: WebConfig | WebFetcher | None = None, adb: AdbConfig | None = None,
                     memory: MemoryTools | None = None, extra: Iterable[Skill] = ()
                     ) -> Registry:
    """Every built-in skill over ``link``'s engine: files in ``workspace`` (default
    ``<data_dir>/workspace``), web fetches under ``web`` (a config, or a fetcher with its own
    resolver), the phone over ``adb``, memory when given, and ``extra`` skills (e-mail) — all
    behind one gate."""
    room = workspace or data_dir / WORKSPACE_DIR
    files = Files(FilesConfig(room, protected_paths(data_dir)))
    fetcher = web if isinstance(web, WebFetcher) else WebFetcher(web or WebConfig())
    skills: list[Skill] = [
        *DIAGNOSTIC, *files.skills(), fetcher.skill(),
        ShellTool(link).skill(), *Phone(adb or AdbConfig(), room).skills(),
        *JobTools(link).skills(), AskOwner(link).skill(), *extra]
    if memory is not None:
        skills += memory_skills(memory)
    return Registry(Gate(link), skills)
