"""A fake ``claude`` CLI (Claude Code print mode) for tests, run as an executable on ``PATH``.

Takes the real flags (``-p``, ``--output-format json|stream-json|text``, ``--session-id``,
``--resume``, ``--model``, ``--append-system-prompt``, ``--allowedTools``, ``--permission-mode``),
reads the prompt from its argument or stdin, keeps each session's transcript in
``$HOME/.claude/projects/<cwd>/<id>.jsonl`` (keyed by id, per folder, as the real one does),
fails the way the real one does on an unknown or reused id, and prints the same result object.
Markers in the prompt make it misbehave (``tests/fakes/agent_markers.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
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


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="claude", add_help=False)
    p.add_argument("prompt", nargs="?")
    p.add_argument("-p", "--print", action="store_true")
    p.add_argument("--output-format", choices=["text", "json", "stream-json"], default="text")
    p.add_argument("--session-id")
    p.add_argument("-r", "--resume")
    p.add_argument("-c", "--continue", action="store_true", dest="cont")
    p.add_argument("--model")
    p.add_argument("--append-system-prompt")
    p.add_argument("--allowedTools")
    p.add_argument("--permission-mode")
    p.add_argument("--verbose", action="store_true")
    return p


def project_dir() -> Path:
    encoded = re.sub(r"[^A-Za-z0-9]", "-", os.getcwd())
    return Path(os.environ.get("HOME", ".")) / ".claude" / "projects" / encoded


def fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def session_of(args: argparse.Namespace) -> tuple[str, Path] | str:
    """(id, transcript) for this run, or the error the real CLI prints."""
    if args.session_id and (args.resume or args.cont):
        return "Error: --session-id cannot be used with --continue or --resume."
    if args.resume:
        path = project_dir() / f"{args.resume}.jsonl"
        if not path.exists():
            return f"No conversation found with session ID: {args.resume}"
        return args.resume, path
    sid = args.session_id or str(uuid.uuid4())
    try:
        uuid.UUID(sid)
    except ValueError:
        return "Error: Invalid session ID. Must be a valid UUID."
    path = project_dir() / f"{sid}.jsonl"
    if path.exists():
        return f"Error: Session ID {sid} is already in use."
    return sid, path


def result(sid: str, text: str, prompt: str, found: dict[str, str],
           error: str | None) -> dict[str, object]:
    tokens = int(found["tokens"]) if found.get("tokens") else len(prompt) // 4 + 3
    return {"type": "result", "subtype": "error_during_execution" if error else "success",
            "is_error": error is not None, "duration_ms": 12, "duration_api_ms": 10,
            "num_turns": 1, "result": error or text, "session_id": sid,
            "total_cost_usd": 0.0125,
            "usage": {"input_tokens": tokens, "cache_creation_input_tokens": 5,
                      "cache_read_input_tokens": 40, "output_tokens": len(text) // 4 + 1}}


def error_of(found: dict[str, str], resumed: bool) -> str | None:
    if "rate-limit" in found:
        return f"Claude AI usage limit reached|{int(time.time()) + 60}"
    if "too-long" in found and resumed:
        return "Prompt is too long"
    if "overloaded" in found:
        return 'API Error: 529 {"type":"error","error":{"type":"overloaded_error"}}'
    if "fail" in found:
        return "Execution error: the tool broke"
    return None


def emit(fmt: str, body: dict[str, object]) -> None:
    if fmt == "json":
        print(json.dumps(body))
    elif fmt == "stream-json":
        print(json.dumps({"type": "system", "subtype": "init", "session_id": body["session_id"]}))
        print(json.dumps({"type": "assistant", "session_id": body["session_id"],
                          "message": {"content": [{"type": "text", "text": body["result"]}]}}))
        print(json.dumps(body))
    else:
        print(body["result"])


def main(argv: list[str]) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit:
        return fail("error: unknown option")
    prompt = read_prompt(args.prompt)
    log_call("claude", argv, prompt)
    if not args.print:
        return fail("the fake claude only knows print mode (-p)")
    found = markers(prompt)
    got = session_of(args)
    if isinstance(got, str):
        return fail(got)
    sid, path = got
    side_effects(found)
    past = history(path)
    error = error_of(found, bool(past))
    text = answer(prompt, sid, past)
    remember(path, prompt, text if error is None else error)
    emit(args.output_format, result(sid, text, prompt, found, error))
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
