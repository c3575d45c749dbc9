"""The detached runner of one shell command: it claims a run folder and leaves the outcome there.

Started by the shell backend as ``python -I shell_runner.py RUN_DIR`` in a session of its own, so
it outlives a SIGKILL of Steward; the next Steward adopts its outcome. Standard library only.

RUN_DIR holds ``spec.json`` (written by the backend); the runner writes ``pid``, claims the run by
creating ``claimed/`` (atomic: whoever creates it first owns the run), streams the command's
output into ``stdout`` and ``stderr`` up to the cap, and last writes ``result.json`` atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

CHUNK_BYTES = 65536
POLL_S = 0.1


class _State:
    """What the signal handler and the drain threads report back to the main thread."""

    def __init__(self) -> None:
        self.killed = False
        self.timed_out = False
        self.truncated = False

    def on_sigterm(self, signum: int, frame: object) -> None:
        self.killed = True


def write_atomic(path: Path, text: str) -> None:
    """Write, fsync and rename, so a reader sees the whole file or none of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _drain(pipe: IO[bytes], path: Path, cap_bytes: int, state: _State) -> None:
    """Keep the first ``cap_bytes``; read and discard the rest so the command never blocks."""
    kept = 0
    with open(path, "wb") as out:
        while chunk := pipe.read(CHUNK_BYTES):
            room = max(cap_bytes - kept, 0)
            if room:
                out.write(chunk[:room])
                kept += min(room, len(chunk))
            if len(chunk) > room:
                state.truncated = True
        out.flush()
        os.fsync(out.fileno())


def _feed(pipe: IO[bytes], data: bytes) -> None:
    try:
        pipe.write(data)
        pipe.close()
    except OSError:
        pass  # the command stopped reading: what it did not read is its own business


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone
        os.killpg(pgid, signum)


def _stop(proc: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the command's group, then SIGKILL it if it is still there after the grace."""
    _signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


def _wait(proc: subprocess.Popen[bytes], spec: dict[str, Any], state: _State) -> None:
    deadline = time.monotonic() + float(spec["timeout_s"])
    while True:
        try:
            proc.wait(timeout=POLL_S)
            return
        except subprocess.TimeoutExpired:
            pass
        if state.killed or time.monotonic() >= deadline:
            state.timed_out = not state.killed
            _stop(proc, float(spec["kill_grace_s"]))
            return


def _start(spec: dict[str, Any]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - running the owner's command is this file's purpose
        spec["argv"], cwd=spec["cwd"], env=spec["env"],
        stdin=subprocess.DEVNULL if spec["stdin"] is None else subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _threads(proc: subprocess.Popen[bytes], spec: dict[str, Any], run_dir: Path,
             state: _State) -> list[threading.Thread]:
    cap = int(spec["output_cap_bytes"])
    jobs: list[tuple[Any, tuple[Any, ...]]] = [
        (_drain, (proc.stdout, run_dir / "stdout", cap, state)),
        (_drain, (proc.stderr, run_dir / "stderr", cap, state)),
    ]
    if proc.stdin is not None:
        jobs.append((_feed, (proc.stdin, str(spec["stdin"]).encode())))
    threads = [threading.Thread(target=fn, args=args, daemon=True) for fn, args in jobs]
    for t in threads:
        t.start()
    return threads


def execute(spec: dict[str, Any], run_dir: Path, state: _State) -> tuple[int | None, str | None]:
    """Run the command to its end, its timeout or a SIGTERM: (exit code, why it could not start)."""
    if state.killed:
        return None, None
    try:
        proc = _start(spec)
    except OSError as exc:
        return None, f"{exc.strerror}: {exc.filename}" if exc.filename else str(exc)
    except ValueError as exc:
        return None, str(exc)
    threads = _threads(proc, spec, run_dir, state)
    _wait(proc, spec, state)
    # The command is over: background children left in its group would hold the pipes open.
    _signal_group(proc.pid, signal.SIGKILL)
    for t in threads:
        t.join(timeout=float(spec["kill_grace_s"]))
    return proc.returncode, None


def main(argv: list[str]) -> int:
    state = _State()
    # Installed first: a SIGTERM from here on is recorded instead of killing the runner silently.
    signal.signal(signal.SIGTERM, state.on_sigterm)
    # Whatever Steward's own parent left inheritable must not be held open by a detached runner.
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    if len(argv) != 2:
        sys.stderr.write("usage: shell_runner.py RUN_DIR\n")
        return 2
    run_dir = Path(argv[1])
    # The pid is written before the claim, so a claimed run always names its runner.
    write_atomic(run_dir / "pid", str(os.getpid()))
    try:
        os.mkdir(run_dir / "claimed")
    except FileExistsError:
        return 0  # the backend took the run back before this runner got to it
    spec = json.loads((run_dir / "spec.json").read_text(encoding="utf-8"))
    started_at, t0 = time.time(), time.monotonic()
    exit_code, error = execute(spec, run_dir, state)
    result = {"exit_code": exit_code, "error": error, "timed_out": state.timed_out,
              "killed": state.killed, "truncated": state.truncated, "started_at": started_at,
              "finished_at": time.time(), "duration_s": time.monotonic() - t0}
    write_atomic(run_dir / "result.json", json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
