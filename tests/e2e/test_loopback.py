"""``steward run`` opens servers on loopback only, and refuses a public metrics address."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import socket
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.canary import CANARIES, canary_env
from tests.conftest import clean_environ
from tests.e2e.steward_proc import listening_sockets, start, wait_until
from tests.fakes.llm_servers import FakeLLM, serving
from tests.fakes.telegram_server import FakeTelegram

OWNER = 4242
UP_S = 40.0
STOP_S = 20.0
REFUSED = "refusing to listen on 192.0.2.1"


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeTelegram, FakeLLM]]:
    telegram = FakeTelegram()
    await telegram.start()
    async with serving() as llm:
        yield telegram, llm
    await telegram.stop()


def run_steward(tmp_path: Path, telegram: FakeTelegram, llm: FakeLLM, metrics_addr: str
                ) -> subprocess.Popen[bytes]:
    """``steward run`` with the bot on the fake Telegram, a model provider, and every canary."""
    env = {**clean_environ(), **canary_env(), "STEWARD_TELEGRAM_TOKEN": telegram.token,
           "STEWARD_TRUSTED_USER_ID": str(OWNER), "STEWARD_TELEGRAM_BASE_URL": telegram.base_url,
           "OPENAI_BASE_URL": llm.openai_url, "STEWARD_METRICS_ADDR": metrics_addr}
    env.pop("ANTHROPIC_API_KEY")  # one provider: the fake OpenAI one
    env.pop("OPENROUTER_API_KEY")
    return start(tmp_path / "data", tmp_path / "run.log", **env)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return await asyncio.to_thread(proc.wait, STOP_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


async def wait_logged(log: Path, text: str, timeout_s: float = UP_S) -> str:
    """The log, once it holds ``text``; polled in a thread so the fakes keep serving."""
    def logged() -> bool:
        return text in log.read_text(errors="replace")

    await asyncio.to_thread(wait_until, logged, timeout_s, repr(text))
    return await asyncio.to_thread(log.read_text, errors="replace")


async def test_every_listening_socket_is_on_loopback(
        tmp_path: Path, fakes: tuple[FakeTelegram, FakeLLM]) -> None:
    telegram, llm = fakes
    proc = run_steward(tmp_path, telegram, llm, f"127.0.0.1:{free_port()}")
    try:
        await telegram.wait_sent("setMyCommands", timeout_s=UP_S)
        await wait_logged(tmp_path / "run.log", "metrics: http://127.0.0.1:")
        telegram.message(OWNER, "/status")
        await telegram.wait_sent("sendMessage", timeout_s=UP_S)
        sockets = listening_sockets(proc.pid)
    finally:
        code = await stop(proc)
    log = (tmp_path / "run.log").read_text(errors="replace")
    assert sockets, "the metrics endpoint should be listening"
    assert all(ipaddress.ip_address(addr).is_loopback for _, addr, _ in sockets), sockets
    assert code == 0, log
    assert not any(c in log for c in CANARIES)


async def test_a_public_metrics_address_is_refused(
        tmp_path: Path, fakes: tuple[FakeTelegram, FakeLLM]) -> None:
    telegram, llm = fakes
    # 192.0.2.1 (TEST-NET-1) is on no interface: even a broken check could not expose it.
    proc = run_steward(tmp_path, telegram, llm, "192.0.2.1:9464")
    try:
        await telegram.wait_sent("setMyCommands", timeout_s=UP_S)
        log = await wait_logged(tmp_path / "run.log", REFUSED)
        sockets = listening_sockets(proc.pid)
        running = proc.poll() is None
    finally:
        await stop(proc)
    assert "STEWARD_ALLOW_PUBLIC_BIND=1" in log
    assert running, "a refused metrics address does not stop the process"
    assert sockets == []
