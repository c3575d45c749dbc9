"""The model gateway: one message format, tiers of candidates, breakers, costs and the cap."""

from __future__ import annotations

from engine.gateway.errors import (
    BadResponse,
    GatewayError,
    NoProviderAvailable,
    ProviderDown,
    RateLimited,
    SpendCapReached,
)
from engine.gateway.messages import (
    Completion,
    Image,
    Message,
    Request,
    Text,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)
from engine.gateway.router import Gateway, GatewayConfig

__all__ = [
    "BadResponse", "Completion", "Gateway", "GatewayConfig", "GatewayError", "Image", "Message",
    "NoProviderAvailable", "ProviderDown", "RateLimited", "Request", "SpendCapReached", "Text",
    "ToolCall", "ToolResult", "ToolSpec", "Usage",
]
