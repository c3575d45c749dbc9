"""The ``llm`` backend is built on first use: a CLI command never imports the provider SDKs, a bad
routing table still stops the start, and providers that connect nothing fail the job
clearly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import build
from bot.errors import ConfigError
from bot.models import NO_PROVIDER, LazyLlm
from bot.settings import load_settings
from engine.gateway.router import Gateway
from engine.loop import Engine, EngineConfig
from engine.model import BackendName, FailureClass, JobSpec, JobState
from engine.store.sqlite import SqliteStore
from engine.workers.backend import Backend
from tests.conftest import clean_environ

PROBE = """
import sys
from bot.app import build
from bot.settings import load_settings
app = build(load_settings())
assert "llm" in {b.value for b in app.backends}, app.backends
app.store.list_jobs(5, "created", None)
app.close()
heavy = sorted(m for m in ("openai", "anthropic", "lancedb", "onnxruntime")
               if m in sys.modules)
print(",".join(heavy) or "none")
"""


def test_building_the_app_imports_no_sdk(tmp_path: Path) -> None:
    env = {**clean_environ(), "STEWARD_DATA_DIR": str(tmp_path / "data"),
           "OPENAI_API_KEY": "sk-test-lazy", "ANTHROPIC_API_KEY": "sk-ant-test-lazy"}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "none"


def test_a_bad_routing_table_still_stops_the_start(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    models = tmp_path / "models.toml"
    models.write_text("[tiers]\nmid = 3\n")
    monkeypatch.setenv("STEWARD_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-lazy")
    monkeypatch.setenv("STEWARD_MODELS_FILE", str(models))
    with pytest.raises(ConfigError, match=r"models\.toml"):
        build(load_settings())


async def test_providers_that_connect_nothing_fail_the_job_clearly(tmp_path: Path) -> None:
    def never(gateway: Gateway) -> Backend:
        raise AssertionError("no gateway: the backend is never made")

    llm = LazyLlm(lambda: None, never)
    store = SqliteStore.open(tmp_path / "steward.db")
    try:
        engine = Engine(store, {BackendName.LLM: llm}, EngineConfig(data_dir=tmp_path))
        job_id = engine.submit(JobSpec(BackendName.LLM, {"prompt": "hello"}))
        await engine.run_until_idle()
        job = store.get_job(job_id)
        assert (job.state, job.failure_class, job.error) == (
            JobState.FAILED, FailureClass.INVALID_INPUT, NO_PROVIDER)
        assert llm.gateway is None
        await llm.warm()  # logged, not raised
        await llm.aclose()
    finally:
        store.close()
