"""Provider ports: the gateway's messages to and from each model API, and connecting to them."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from engine.gateway.providers.anthropic import AnthropicProvider
from engine.gateway.providers.base import Provider
from engine.gateway.providers.openai import OpenAIProvider

OPENAI_URL = "https://api.openai.com/v1"
ANTHROPIC_URL = "https://api.anthropic.com"
OPENROUTER_URL = "https://openrouter.ai/api/v1"
OLLAMA_KEY = "ollama"
"""Ollama ignores the key, but the OpenAI SDK refuses to start without one."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Keys and base URLs, by the SDKs' own conventions; a provider without one is absent."""

    openai_key: str | None = None
    openai_base_url: str | None = None
    anthropic_key: str | None = None
    anthropic_base_url: str | None = None
    openrouter_key: str | None = None
    openrouter_base_url: str | None = None
    ollama_base_url: str | None = None


def connect(e: Endpoints, timeout_s: float = 120.0) -> dict[str, Provider]:
    """A provider for each configured endpoint, SDK retries off (the gateway owns retries),
    all sharing one TLS context."""
    found: dict[str, Provider] = {}
    if not (e.openai_key or e.anthropic_key or e.openrouter_key or e.ollama_base_url):
        return found
    tls = ssl.create_default_context()
    if e.openai_key:
        url = e.openai_base_url or OPENAI_URL
        found["openai"] = OpenAIProvider.connect(
            "openai", e.openai_key, url, timeout_s=timeout_s, tls=tls,
            legacy_max_tokens=url.rstrip("/") != OPENAI_URL)
    if e.anthropic_key:
        found["anthropic"] = AnthropicProvider.connect(
            "anthropic", e.anthropic_key, e.anthropic_base_url or ANTHROPIC_URL,
            timeout_s=timeout_s, tls=tls)
    if e.openrouter_key:
        found["openrouter"] = OpenAIProvider.connect(
            "openrouter", e.openrouter_key, e.openrouter_base_url or OPENROUTER_URL,
            timeout_s=timeout_s, tls=tls, legacy_max_tokens=True)
    if e.ollama_base_url:
        found["ollama"] = OpenAIProvider.connect(
            "ollama", OLLAMA_KEY, ollama_v1(e.ollama_base_url), timeout_s=timeout_s, tls=tls,
            legacy_max_tokens=True)
    return found


def ollama_v1(base_url: str) -> str:
    """Ollama's OpenAI-compatible API lives under ``/v1`` of its base URL."""
    base = base_url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"
