"""``steward run`` with Telegram as a real process: owner only, loopback only, clean SIGTERM."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests import canary
from tests.conftest import CLI_TIMEOUT_S, Steward, clean_environ
from tests.fakes.telegram_server import FakeTelegram

OWNER = 4242
STRANGER = 777
FLOOD = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def listening(pid: int) -> list[str]:
    """The local addresses of every TCP socket ``pid`` listens on (from /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}") if os.path.exists(
            f"/proc/{pid}/fd/{fd}") else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(_address(fields[1].split(":")[0]))
    return found


def _address(hex_ip: str) -> str:
    raw = bytes.fromhex(hex_ip)
    # /proc prints each 32-bit word of the address in host (little-endian) order.
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


@asynccontextmanager
async def steward_run(tmp_path: Path, fake: FakeTelegram,
                      metrics_port: int) -> AsyncIterator[asyncio.subprocess.Process]:
    env = {**clean_environ(), "STEWARD_DATA_DIR": str(tmp_path / "data"),
           "STEWARD_TELEGRAM_TOKEN": fake.token, "STEWARD_TRUSTED_USER_ID": str(OWNER),
           "STEWARD_TELEGRAM_BASE_URL": fake.base_url, "PYTHONUNBUFFERED": "1",
           "STEWARD_METRICS_ADDR": f"127.0.0.1:{metrics_port}", "STEWARD_TICK_SECONDS": "1"}
    canary.record_file("steward run log", tmp_path / "run.log")
    with (tmp_path / "run.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def fetch(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{port}{path}") as response:
        return response.status, await response.text()


def flood(fake: FakeTelegram) -> None:
    for i in range(FLOOD):
        match i % 3:
            case 0:
                fake.message(STRANGER + i, "/status")
            case 1:
                fake.tap(STRANGER, "card:1:approve", message_id=1000 + i)
            case _:
                fake.message(STRANGER, "/run rm -rf ~", chat_id=-100123)


async def test_steward_run_serves_the_owner_only_on_loopback(tmp_path: Path) -> None:
    fake = FakeTelegram()
    await fake.start()
    port = free_port()
    try:
        async with steward_run(tmp_path, fake, port) as proc:
            await fake.wait_sent("setMyCommands", timeout_s=40)
            fake.message(OWNER, "/status")
            [status] = await fake.wait_sent("sendMessage", timeout_s=10)
            flood(fake)
            fake.message(OWNER, "/jobs")
            sent = await fake.wait_sent("sendMessage", 2, timeout_s=20)
            code, metrics = await fetch(port, "/metrics")
            health = await fetch(port, "/healthz")
            sockets = listening(proc.pid)
            proc.send_signal(signal.SIGTERM)
            exit_code = await asyncio.wait_for(proc.wait(), 20)
    finally:
        await fake.stop()
    log = (tmp_path / "run.log").read_text()
    assert status.params["text"].startswith("<b>Status</b>")
    assert [s.params["chat_id"] for s in fake.sent_by("sendMessage")] == [OWNER, OWNER]
    assert sent[1].params["text"].startswith("No jobs yet")
    assert fake.sent_by("answerCallbackQuery") == []
    assert code == 200
    assert health == (200, "ok\n")
    dropped = sum(int(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                  if line.startswith("steward_telegram_dropped_updates_total{"))
    assert dropped == FLOOD
    assert 'steward_jobs{state="ready"} 0' in metrics
    assert sockets, "the metrics endpoint should be listening"
    assert all(ipaddress.ip_address(a).is_loopback for a in sockets), sockets
    assert exit_code == 0, log
    assert "Traceback" not in log
    assert fake.token not in log  # the token never reaches a log line
    assert json.loads(log.rstrip().splitlines()[-1])["msg"] == "stopped"


def test_a_token_without_a_trusted_user_is_refused(steward: Steward) -> None:
    done = steward("run", STEWARD_TELEGRAM_TOKEN="123:abc")
    assert done.returncode == 3
    assert done.stderr == ("steward: STEWARD_TRUSTED_USER_ID: required when "
                           "STEWARD_TELEGRAM_TOKEN is set\n")


def test_steward_chat_through_a_pipe(steward: Steward) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot", "chat"], cwd=steward.cwd, env=steward.env,
        input="/status\n/jobs\nhello there\n/job 3\n/quit\n", capture_output=True,
        text=True, timeout=CLI_TIMEOUT_S, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("Steward console.")
    assert "Status\nJobs: none yet" in out
    assert "No jobs yet." in out
    assert "No model provider is configured" in out
    assert "There is no job 3." in out
    assert "<" not in out
    assert "Traceback" not in done.stderr
