"""The composition root wires the llm backend when a provider is configured, and it answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import build
from bot.settings import load_settings
from engine.model import BackendName, JobSpec, JobState
from tests.fakes.llm_servers import FakeLLM


async def test_a_configured_provider_gives_a_working_llm_backend(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = await FakeLLM(reply_text="Hello from the fake model").start()
    try:
        monkeypatch.setenv("STEWARD_DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-canary")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.openai_url)
        app = build(load_settings())
        assert BackendName.LLM in app.backends
        job_id = app.engine.submit(JobSpec(BackendName.LLM, {"prompt": "Say hello"}))
        await app.engine.run_until_idle()
        job = app.store.get_job(job_id)
        assert job.state is JobState.DONE, job.error
        assert job.result["text"] == "Hello from the fake model"
        assert "You are Steward" in str(fake.last.body)
        assert app.gateway is not None
        await app.gateway.aclose()
        app.close()
    finally:
        await fake.stop()


def test_without_a_provider_there_is_no_llm_backend(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_DATA_DIR", str(tmp_path / "data"))
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "OLLAMA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    app = build(load_settings())
    assert BackendName.LLM not in app.backends
    assert app.gateway is None
    app.close()
