"""Embedders: the real MiniLM on onnxruntime, and OpenAI's client against a fake API on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from memory.embeddings import MINILM_DIM, MINILM_ID, Embedder, OnnxMiniLM, OpenAIEmbedder
from memory.errors import EmbeddingFailed


@pytest.fixture(scope="module")
def minilm() -> Iterator[OnnxMiniLM]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield OnnxMiniLM()


def test_minilm_gives_unit_float32_rows(minilm: OnnxMiniLM) -> None:
    vectors = minilm.embed(["The cat sits on the mat", "A kitten is resting on a rug", "x"])
    assert vectors.shape == (3, MINILM_DIM)
    assert vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0, abs=1e-5)
    assert minilm.model_id == MINILM_ID


def test_minilm_puts_paraphrases_close_and_strangers_apart(minilm: OnnxMiniLM) -> None:
    cat, kitten, market = minilm.embed(["The cat sits on the mat",
                                        "A kitten is resting on a rug",
                                        "The stock market fell sharply today"])
    assert float(cat @ kitten) > 0.5
    assert float(cat @ market) < 0.2


def test_minilm_batches_keep_the_callers_order(minilm: OnnxMiniLM) -> None:
    """Texts are sorted by length inside a call; the rows must come back in input order."""
    texts = [f"{'word ' * n}number {n}" for n in (30, 1, 12, 5, 60, 2)]
    together = minilm.embed(texts)
    alone = np.vstack([minilm.embed([t]) for t in texts])
    assert together == pytest.approx(alone, abs=1e-3)


def test_minilm_takes_empty_and_very_long_input(minilm: OnnxMiniLM) -> None:
    assert minilm.embed([]).shape == (0, MINILM_DIM)
    long = minilm.embed(["remember " * 4000])  # far past 256 tokens: truncated, not refused
    assert long.shape == (1, MINILM_DIM)


def test_minilm_without_its_model_file_fails_clearly(tmp_path: Path) -> None:
    broken = OnnxMiniLM(model_path=tmp_path / "missing.onnx")
    with pytest.raises(EmbeddingFailed, match="cannot load the embedding model"):
        broken.embed(["hello"])


def test_both_embedders_fit_the_port() -> None:
    def port(embedder: Embedder) -> str:
        return embedder.model_id

    assert port(OnnxMiniLM()) == MINILM_ID
    assert port(OpenAIEmbedder(api_key="sk-test")) == "openai/text-embedding-3-small/1536"


# -- OpenAI, against a fake POST /v1/embeddings on 127.0.0.1 -----------------------------------


@dataclass
class FakeEmbeddings:
    """Answers like OpenAI's embeddings endpoint, rows in reverse order (``index`` says which
    input each is); ``status`` makes it fail instead; every request body is kept."""

    dim: int = 8
    status: int = 200
    short: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        if self.status != 200:
            return web.json_response({"error": {"message": "nope", "type": "rate_limit"}},
                                     status=self.status, headers={"retry-after": "1"})
        inputs = body["input"]
        width = body.get("dimensions", self.dim) - (1 if self.short else 0)
        rows = [{"object": "embedding", "index": i,
                 "embedding": [float(len(text) + i + 1)] + [1.0] * (width - 1)}
                for i, text in enumerate(inputs)]
        return web.json_response({"object": "list", "data": rows[::-1], "model": body["model"],
                                  "usage": {"prompt_tokens": 3, "total_tokens": 3}})


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeEmbeddings, str]]:
    state = FakeEmbeddings()
    app = web.Application()
    app.router.add_post("/v1/embeddings", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield state, f"http://127.0.0.1:{port}/v1"
    await runner.cleanup()


async def test_openai_embedder_returns_unit_rows_in_input_order(
        fake: tuple[FakeEmbeddings, str]) -> None:
    state, url = fake
    embedder = OpenAIEmbedder(api_key="sk-test", base_url=url, dim=8)
    vectors = await asyncio.to_thread(embedder.embed, ["a", "bbbb", "cc"])
    assert vectors.shape == (3, 8)
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(1.0)
    firsts = vectors[:, 0] / vectors[:, 1]  # the fake's first component: len(text) + index + 1
    assert firsts == pytest.approx([2.0, 6.0, 5.0])
    assert state.requests[0]["model"] == "text-embedding-3-small"
    assert state.requests[0]["dimensions"] == 8
    assert embedder.model_id == "openai/text-embedding-3-small/8"


async def test_openai_embedder_splits_big_calls(fake: tuple[FakeEmbeddings, str]) -> None:
    state, url = fake
    embedder = OpenAIEmbedder(api_key="sk-test", base_url=url, dim=8)
    vectors = await asyncio.to_thread(embedder.embed, [f"t{i}" for i in range(300)])
    assert vectors.shape == (300, 8)
    assert [len(r["input"]) for r in state.requests] == [256, 44]


@pytest.mark.parametrize("status", [429, 500, 401])
async def test_openai_errors_fail_once_without_retrying(
        fake: tuple[FakeEmbeddings, str], status: int) -> None:
    state, url = fake
    state.status = status
    embedder = OpenAIEmbedder(api_key="sk-test", base_url=url, dim=8)
    with pytest.raises(EmbeddingFailed, match=f"HTTP {status}"):
        await asyncio.to_thread(embedder.embed, ["hello"])
    assert len(state.requests) == 1


async def test_openai_vectors_of_the_wrong_width_are_refused(
        fake: tuple[FakeEmbeddings, str]) -> None:
    state, url = fake
    state.short = True
    embedder = OpenAIEmbedder(api_key="sk-test", base_url=url, dim=8)
    with pytest.raises(EmbeddingFailed, match="expected"):
        await asyncio.to_thread(embedder.embed, ["hello"])


async def test_openai_unreachable_is_an_embedding_failure(unused_tcp_port: int) -> None:
    embedder = OpenAIEmbedder(api_key="sk-test", base_url=f"http://127.0.0.1:{unused_tcp_port}/v1",
                              timeout_s=2.0)
    with pytest.raises(EmbeddingFailed, match="failed"):
        await asyncio.to_thread(embedder.embed, ["hello"])

