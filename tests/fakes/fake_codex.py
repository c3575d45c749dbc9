"""A fake ``codex`` CLI (``codex exec``) for tests, run as an executable on ``PATH``.

Takes ``codex exec [--json] [--skip-git-repo-check] [-m M] [--sandbox S] [PROMPT|-]`` and
``codex exec [OPTIONS] resume THREAD_ID [PROMPT|-]``, keeps each thread's transcript in
``$CODEX_HOME/sessions/<thread_id>.jsonl`` (``$HOME/.codex`` by default), refuses an unknown
thread id as the real one does, and prints the same JSONL events (``thread.started``,
``turn.started``, ``item.completed``, ``turn.completed`` with usage, ``turn.failed``, ``error``).
Markers in the prompt make it misbehave (``tests/fakes/agent_markers.py``).
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.agent_markers import (
    answer,
    history,
    log_call,
    markers,
    read_prompt,
    remember,
    side_effects,
)

VALUED = {"-m", "--model", "-s", "--sandbox", "-C", "--cd", "--color", "-c", "--config",
          "-o", "--output-last-message", "--output-schema", "-i", "--image"}
FLAGS = {"--json", "--experimental-json", "--skip-git-repo-check", "--ephemeral",
         "--dangerously-bypass-approvals-and-sandbox"}


def split(argv: list[str]) -> tuple[dict[str, str], list[str]] | str:
    """(options, positionals) of ``codex exec ...``, or the usage error."""
    options: dict[str, str] = {}
    positionals: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in VALUED:
            if i + 1 >= len(argv):
                return f"error: a value is required for '{arg}'"
            options[arg] = argv[i + 1]
            i += 2
            continue
        if arg in FLAGS:
            options[arg] = ""
        elif arg.startswith("-") and arg != "-":
            return f"error: unexpected argument '{arg}' found"
        else:
            positionals.append(arg)
        i += 1
    return options, positionals


def sessions_dir() -> Path:
    home = os.environ.get("CODEX_HOME") or str(Path(os.environ.get("HOME", ".")) / ".codex")
    return Path(home) / "sessions"


def emit(event: dict[str, object]) -> None:
    print(json.dumps(event), flush=True)


def error_of(found: dict[str, str], resumed: bool) -> str | None:
    if "rate-limit" in found:
        return "stream error: exceeded retry limit, last status: 429 Too Many Requests"
    if "too-long" in found and resumed:
        return ("context_length_exceeded: Your input exceeds the context window of this "
                "model. Please adjust your input and try again.")
    if "overloaded" in found:
        return "unexpected status 503 Service Unavailable"
    if "fail" in found:
        return "the model produced an invalid tool call"
    return None


def run_turn(thread: str, path: Path, prompt: str) -> int:
    found = markers(prompt)
    side_effects(found)
    past = history(path)
    emit({"type": "thread.started", "thread_id": thread})
    emit({"type": "turn.started"})
    error = error_of(found, bool(past))
    if error is not None:
        remember(path, prompt, error)
        emit({"type": "error", "message": error})
        emit({"type": "turn.failed", "error": {"message": error}})
        return 1
    text = answer(prompt, thread, past)
    remember(path, prompt, text)
    emit({"type": "item.completed", "item": {"id": "item_0", "type": "reasoning",
                                             "text": "thinking it over"}})
    emit({"type": "item.completed", "item": {"id": "item_1", "type": "agent_message",
                                             "text": text}})
    tokens = int(found["tokens"]) if found.get("tokens") else len(prompt) // 4 + 50
    emit({"type": "turn.completed", "usage": {"input_tokens": tokens + 40,
                                              "cached_input_tokens": 40,
                                              "output_tokens": len(text) // 4 + 1}})
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "exec":
        print("the fake codex only knows `codex exec`", file=sys.stderr)
        return 2
    parsed = split(argv[1:])
    if isinstance(parsed, str):
        print(parsed, file=sys.stderr)
        return 2
    _, positionals = parsed
    if positionals[:1] == ["resume"]:
        if len(positionals) < 2:
            print("error: a session id is required (or --last)", file=sys.stderr)
            return 2
        thread, given = positionals[1], (positionals[2] if len(positionals) > 2 else None)
        path = sessions_dir() / f"{thread}.jsonl"
        prompt = read_prompt(given)
        log_call("codex", argv, prompt)
        if not path.exists():
            print(f"Error: thread/resume: no rollout found for thread id {thread}",
                  file=sys.stderr)
            return 1
        return run_turn(thread, path, prompt)
    prompt = read_prompt(positionals[0] if positionals else None)
    log_call("codex", argv, prompt)
    thread = str(uuid.uuid4())
    return run_turn(thread, sessions_dir() / f"{thread}.jsonl", prompt)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
