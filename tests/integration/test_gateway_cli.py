"""``steward costs``, the doctor's provider check and ``make_gateway``, on a real data dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.app import DB_FILE, make_gateway
from bot.cli import main
from bot.doctor import doctor
from bot.errors import ConfigError
from bot.settings import load_settings
from engine.gateway.messages import Message, Request
from engine.store.sqlite import SqliteStore
from tests.fakes.llm_servers import FakeLLM, fake_anthropic, fake_openai, overloaded

__all__ = ["fake_anthropic", "fake_openai"]

MODELS = """
[[tiers.mid]]
provider = "anthropic"
model = "claude-test"
price = { input = 3, output = 15, cached = 0.3, cache_write = 3.75 }
[[tiers.mid]]
provider = "openai"
model = "gpt-test"
price = { input = 1, output = 2, cached = 0.1 }
[[tiers.ultra]]
provider = "anthropic"
model = "claude-test"
price = { input = 3, output = 15, cached = 0.3 }
[[tiers.cheap]]
provider = "ollama"
model = "local"
price = { input = 0, output = 0, cached = 0 }
[[tiers.reasoning]]
provider = "openai"
model = "gpt-test"
price = { input = 1, output = 2, cached = 0.1 }
"""


@pytest.fixture
def data_dir(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STEWARD_DATA_DIR", str(clean_env / "data"))
    return clean_env / "data"


def use_fakes(monkeypatch: pytest.MonkeyPatch, tmp: Path, a: FakeLLM, o: FakeLLM) -> None:
    models = tmp / "models.toml"
    models.write_text(MODELS)
    for name, value in {"STEWARD_MODELS_FILE": str(models), "ANTHROPIC_API_KEY": "sk-ant-x",
                        "ANTHROPIC_BASE_URL": a.anthropic_url, "OPENAI_API_KEY": "sk-x",
                        "OPENAI_BASE_URL": o.openai_url}.items():
        monkeypatch.setenv(name, value)


async def test_costs_per_day_model_and_job(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str],
                                           fake_anthropic: FakeLLM, fake_openai: FakeLLM,
                                           ) -> None:
    use_fakes(monkeypatch, data_dir.parent, fake_anthropic, fake_openai)
    settings = load_settings()
    store = SqliteStore.open(data_dir / DB_FILE)
    gateway = make_gateway(settings, store)
    assert gateway is not None
    assert gateway.configured() == ["anthropic", "openai"]
    fake_anthropic.push(overloaded())
    for job_id in (1, 1, 2):
        await gateway.complete(Request("mid", (Message.user("hi"),), job_id=job_id))
    await gateway.aclose()
    store.close()

    assert main(["costs", "--json", "--days", "3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [d["calls"] for d in report["days"]] == [0, 0, 4]
    assert report["days"][-1]["failures"] == 1
    assert {(m["model"], m["calls"]) for m in report["models"]} == {
        ("anthropic/claude-test", 3), ("openai/gpt-test", 1)}
    assert (report["zone"], report["cap_usd"]) == ("UTC", 5.0)

    assert main(["costs", "--job", "1", "--json"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert [c["outcome"] for c in job["calls"]] == ["server_error", "ok", "ok"]
    assert job["total"]["calls"] == 3
    assert job["total"]["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in job["calls"]))

    assert main(["costs"]) == 0
    text = capsys.readouterr().out
    assert "days in UTC; cap $5.00 a day" in text
    assert "anthropic/claude-test" in text
    assert main(["costs", "--job", "9"]) == 0
    assert capsys.readouterr().out.strip() == "job 9 made no model calls"


def test_costs_on_an_empty_database(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["costs", "--days", "1"]) == 0
    assert "total" in capsys.readouterr().out


def test_make_gateway_without_providers_is_none(data_dir: Path, tmp_path: Path) -> None:
    store = SqliteStore.open(tmp_path / "s.db")
    assert make_gateway(load_settings(), store) is None
    store.close()


def test_a_bad_models_file_is_one_line(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                       tmp_path: Path) -> None:
    models = tmp_path / "bad.toml"
    models.write_text("[[tiers.mid]]\nprovider = 'acme'\n")
    monkeypatch.setenv("STEWARD_MODELS_FILE", str(models))
    store = SqliteStore.open(tmp_path / "s.db")
    with pytest.raises(ConfigError, match=r"STEWARD_MODELS_FILE .*tiers.mid\[0\]"):
        make_gateway(load_settings(), store)
    store.close()
    (check,) = [c for c in doctor(load_settings()) if c.name == "providers"]
    assert check.status == "fail"
    assert "tiers.mid[0].provider" in check.detail


@pytest.mark.parametrize(("env", "status", "words"), [
    ({}, "warn", ["none configured", "routing table models.toml loads"]),
    ({"ANTHROPIC_API_KEY": "sk-ant-x"}, "ok",
     ["configured: anthropic", "absent: openai, openrouter, ollama"]),
    ({"OLLAMA_BASE_URL": "http://127.0.0.1:11434"}, "warn",
     ["configured: ollama", "no configured provider serves tier ultra, mid"]),
])
def test_doctor_says_which_providers_and_whether_the_table_loads(
        data_dir: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], status: str,
        words: list[str]) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    (check,) = [c for c in doctor(load_settings()) if c.name == "providers"]
    assert check.status == status
    for w in words:
        assert w in check.detail
    assert "sk-ant-x" not in check.detail
