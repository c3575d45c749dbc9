"""Starting and stopping the real ``steward`` process for end-to-end tests."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests import canary


def steward_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEWARD_")}
    env.update({"STEWARD_DATA_DIR": str(data_dir), "STEWARD_TICK_SECONDS": "1",
                "PYTHONUNBUFFERED": "1", **extra})
    return env


def start(data_dir: Path, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    """``steward run`` in the background, its output appended to ``log`` (which the canary
    check reads at the end of the session)."""
    canary.record_file("steward run output", log)
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "bot", "run"], env=steward_env(
            data_dir, **extra), stdout=out, stderr=subprocess.STDOUT)


def kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def listening_sockets(pid: int) -> list[tuple[str, str, int]]:
    """Every socket ``pid`` serves on, as (protocol, address, port): TCP sockets in LISTEN
    and bound, unconnected UDP sockets, read from ``/proc`` (its fds mapped to socket inodes)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):  # an fd closed while we look
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = []
    for table, state in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local_ip, local_port = fields[1].split(":")
            if fields[3] == state and fields[9] in inodes and int(local_port, 16):
                found.append((table, proc_address(local_ip), int(local_port, 16)))
    return found


def proc_address(hex_ip: str) -> str:
    """An address as ``/proc/net`` prints it (each 32-bit word in host, little-endian, order)."""
    raw = bytes.fromhex(hex_ip)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))
