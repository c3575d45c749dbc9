"""What the fake ``claude`` and ``codex`` share: prompt markers, transcripts, the call log.

A prompt steers a fake with markers (also read from ``FAKE_AGENT_MODE``):
``[[fail]]`` ``[[rate-limit]]`` ``[[too-long]]`` (only in a resumed session) ``[[overloaded]]``
``[[crash]]`` (dies by SIGKILL mid-output) ``[[hang]]`` ``[[flood]]`` ``[[garbage]]``
``[[tokens=N]]`` (input tokens reported) ``[[touch=PATH]]`` (appends a line: a side effect)
``[[wait=PATH]]`` (writes PATH.pid, then waits for PATH to exist).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import time
from pathlib import Path

MARKER = re.compile(r"\[\[([a-z-]+)(?:=([^\]]*))?\]\]")
SUMMARISE = "Summarise this session"
FLOOD_BYTES = 20 << 20


def markers(prompt: str) -> dict[str, str]:
    found = {m.group(1): m.group(2) or "" for m in MARKER.finditer(prompt)}
    for name in filter(None, os.environ.get("FAKE_AGENT_MODE", "").split(",")):
        found.setdefault(name, "")
    return found


def read_prompt(given: str | None) -> str:
    return sys.stdin.read() if given in (None, "-") else str(given)


def log_call(tool: str, argv: list[str], prompt: str) -> None:
    """Append this call to ``FAKE_AGENT_LOG``, for tests that check the flags used."""
    path = os.environ.get("FAKE_AGENT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"tool": tool, "argv": argv, "cwd": os.getcwd(),
                                "prompt": prompt}) + "\n")


def history(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def remember(path: Path, prompt: str, reply: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"role": "user", "text": prompt}) + "\n")
        f.write(json.dumps({"role": "assistant", "text": reply}) + "\n")


def answer(prompt: str, session: str, past: list[dict[str, str]]) -> str:
    """The reply: which turn of which session, and the earlier prompts it remembers."""
    asked = [(MARKER.sub("", t["text"]).strip() or "-").splitlines()[0] for t in past
             if t["role"] == "user"]
    if prompt.startswith(SUMMARISE):
        return "SUMMARY: " + " | ".join(asked)
    first = prompt.strip().splitlines()[0] if prompt.strip() else ""
    earlier = f" Earlier: {' / '.join(asked)}." if asked else ""
    return f"Turn {len(asked) + 1} of session {session}: {first}.{earlier}"


def side_effects(found: dict[str, str]) -> None:
    """The markers that act before any answer: waiting, touching, hanging, crashing."""
    if "wait" in found:
        gate = Path(found["wait"])
        Path(f"{gate}.pid").write_text(str(os.getpid()))
        while not gate.exists():
            time.sleep(0.02)
    if "touch" in found:
        with open(found["touch"], "a", encoding="utf-8") as f:
            f.write(f"{os.environ.get('JOB_KEY', '-')}\n")
    if "hang" in found:
        Path("hang.pid").write_text(str(os.getpid()))
        time.sleep(3600)
    if "crash" in found:
        sys.stdout.write('{"type": "system", "subtype": "init"')
        sys.stdout.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    if "flood" in found:
        line = "x" * 1023 + "\n"
        for _ in range(FLOOD_BYTES // len(line)):
            sys.stdout.write(line)
    if "garbage" in found:
        print("warning: this line is not JSON")
        print("{not json either")
