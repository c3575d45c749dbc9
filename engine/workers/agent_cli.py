"""How each coding-agent CLI is called: Claude Code's print mode and ``codex exec``.

Sessions are always named explicitly — ``--session-id``/``--resume`` for Claude Code, the thread
id for ``codex exec resume`` — never found through the working directory. The prompt goes in on
stdin, so no prompt can be read as a flag and none shows in the process list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from engine.model import BackendName
from engine.workers.agent_output import Reply, parse_claude, parse_codex


@dataclass(frozen=True, slots=True)
class Invocation:
    """One run: in which session, with which worker settings."""

    session_id: str
    """Ours for a new Claude Code session; the CLI's own id when resuming."""
    resume: bool
    model: str | None = None
    persona: str | None = None
    tools: tuple[str, ...] = ()
    read_only: bool = False
    """The job came from DATA: the agent may read but not change anything."""


class AgentCli(Protocol):
    """One CLI's calling convention."""

    @property
    def backend(self) -> BackendName: ...

    @property
    def binary(self) -> str: ...

    def argv(self, path: str, run: Invocation) -> list[str]: ...

    def prompt(self, text: str, run: Invocation) -> str: ...

    def parse(self, stdout: str) -> Reply | None: ...


@dataclass(frozen=True, slots=True)
class ClaudeCli:
    """``claude -p --output-format json`` with ``--session-id`` or ``--resume``."""

    binary: str = "claude"
    permission_mode: str = "acceptEdits"
    backend: BackendName = BackendName.CLAUDE_CODE

    def argv(self, path: str, run: Invocation) -> list[str]:
        argv = [path, "-p", "--output-format", "json",
                *(["--resume", run.session_id] if run.resume else
                  ["--session-id", run.session_id]),
                "--permission-mode", "plan" if run.read_only else self.permission_mode]
        if run.model:
            argv += ["--model", run.model]
        if run.persona:
            argv += ["--append-system-prompt", run.persona]
        if run.tools:
            argv += ["--allowedTools", ",".join(run.tools)]
        return argv

    def prompt(self, text: str, run: Invocation) -> str:
        return text

    def parse(self, stdout: str) -> Reply | None:
        return parse_claude(stdout)


@dataclass(frozen=True, slots=True)
class CodexCli:
    """``codex exec --json``, or ``codex exec --json resume THREAD_ID`` to continue."""

    binary: str = "codex"
    sandbox: str = "workspace-write"
    backend: BackendName = BackendName.CODEX

    def argv(self, path: str, run: Invocation) -> list[str]:
        argv = [path, "exec", "--json", "--skip-git-repo-check",
                "--sandbox", "read-only" if run.read_only else self.sandbox]
        if run.model:
            argv += ["-m", run.model]
        return argv + (["resume", run.session_id, "-"] if run.resume else ["-"])

    def prompt(self, text: str, run: Invocation) -> str:
        """``codex exec`` takes no system prompt: a persona opens a new session's first turn."""
        if run.persona and not run.resume:
            return f"Instructions for this session:\n{run.persona}\n\n{text}"
        return text

    def parse(self, stdout: str) -> Reply | None:
        return parse_codex(stdout)
