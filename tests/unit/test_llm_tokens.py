"""cl100k_base works offline: from the installed file, with an empty cache dir and no network."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from engine.workers.llm_tokens import bundled_cl100k_path, cl100k, cl100k_counter

NO_NETWORK = textwrap.dedent("""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network use is forbidden in this test")

    socket.socket.connect = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    from engine.workers.llm_tokens import cl100k_counter
    count = cl100k_counter()
    print(count("Steward counts tokens offline."))
""")


def test_the_counter_loads_with_an_empty_cache_dir_and_the_network_cut(tmp_path: Path) -> None:
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    env = {"TIKTOKEN_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    done = subprocess.run([sys.executable, "-c", NO_NETWORK], env=env, capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) == cl100k_counter()("Steward counts tokens offline.")
    assert list(cache.iterdir()) == []


def test_the_encoding_is_cl100k_base() -> None:
    assert bundled_cl100k_path().name == "cl100k_base.tiktoken"
    encoding = cl100k()
    assert encoding.encode("hello world") == [15339, 1917]
    assert encoding.n_vocab == 100277


def test_special_token_text_counts_as_plain_text() -> None:
    count = cl100k_counter()
    assert count("<|endoftext|>") > 1
    assert count("") == 0
