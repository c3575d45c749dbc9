"""A fake Telegram Bot API on 127.0.0.1: the real wire format, for python-telegram-bot to talk to.

It keeps a queue of updates (messages, forwards, documents, button taps) that the test pushes,
answers ``getUpdates`` long polls from it, records everything the bot sends, serves files, and
can inject faults per method (an error with ``retry_after``, a stall).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests import canary
from tests.canary import CANARY_BOT_TOKEN

INT_FIELDS = frozenset({"chat_id", "message_id", "offset", "limit", "timeout", "user_id"})
JSON_FIELDS = frozenset({"reply_markup", "commands", "allowed_updates", "entities",
                         "link_preview_options", "reply_parameters", "scope"})


@dataclass
class Fault:
    """One injected failure for the next call of a method."""

    status: int = 429
    description: str = "Too Many Requests: retry after 1"
    retry_after: int | None = 1
    stall_s: float = 0.0
    """Hold the request this long before answering (a wedged connection)."""


@dataclass
class Sent:
    method: str
    params: dict[str, Any]
    at: float
    result: dict[str, Any] | None = None
    """The message the call returned (its ``message_id``), for methods that return one."""


@dataclass
class FakeTelegram:
    """The server's state; ``start`` binds it to an ephemeral port on 127.0.0.1."""

    token: str = CANARY_BOT_TOKEN
    bot_id: int = 123456
    updates: list[dict[str, Any]] = field(default_factory=list)
    sent: list[Sent] = field(default_factory=list)
    faults: dict[str, list[Fault]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    polls: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _recorded: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> str:
        """Serve on 127.0.0.1; returns the base URL to give the bot (``.../bot``)."""
        app = web.Application()
        app.router.add_route("POST", "/bot{token}/{method}", self._call)
        app.router.add_route("GET", "/bot{token}/{method}", self._call)
        app.router.add_route("GET", "/file/bot{token}/{path:.*}", self._file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.base_url

    async def stop(self) -> None:
        self._arrived.set()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    # -- what the test pushes ------------------------------------------------------------------

    def push(self, update: dict[str, Any]) -> int:
        update_id = next(self._ids)
        self.updates.append({"update_id": update_id, **update})
        self._arrived.set()
        return update_id

    def message(self, user_id: int, text: str | None = None, *, chat_id: int | None = None,
                **extra: Any) -> int:
        """A message from ``user_id`` in a private chat (or ``chat_id``)."""
        msg = self._message(user_id, chat_id, **extra)
        if text is not None:
            msg["text"] = text
            if text.startswith("/"):
                command = text.split()[0]
                msg["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        return self.push({"message": msg})

    def forward(self, user_id: int, text: str, origin_name: str = "Mallory") -> int:
        origin = {"type": "hidden_user", "sender_user_name": origin_name, "date": int(time.time())}
        return self.push({"message": {**self._message(user_id, None), "text": text,
                                      "forward_origin": origin}})

    def document(self, user_id: int, name: str, content: bytes, mime: str) -> int:
        file_id = f"file-{len(self.files) + 1}"
        self.files[file_id] = content
        doc = {"file_id": file_id, "file_unique_id": f"u{file_id}", "file_name": name,
               "mime_type": mime, "file_size": len(content)}
        return self.push({"message": {**self._message(user_id, None), "document": doc}})

    def tap(self, user_id: int, data: str, message_id: int, chat_id: int | None = None) -> int:
        """A press of an inline button under ``message_id``."""
        message = {"message_id": message_id, "date": int(time.time()),
                   "chat": {"id": chat_id or user_id, "type": "private"},
                   "from": {"id": self.bot_id, "is_bot": True, "first_name": "Steward"},
                   "text": "card"}
        query = {"id": f"cq{next(self._ids)}", "from": _user(user_id), "chat_instance": "ci",
                 "data": data, "message": message}
        return self.push({"callback_query": query})

    def fail_next(self, method: str, fault: Fault | None = None) -> None:
        self.faults.setdefault(method, []).append(fault or Fault())

    def sent_by(self, method: str) -> list[Sent]:
        return [s for s in self.sent if s.method == method]

    def texts(self, method: str = "sendMessage") -> list[str]:
        return [str(s.params.get("text", "")) for s in self.sent_by(method)]

    async def wait_sent(self, method: str, count: int = 1, timeout_s: float = 5.0) -> list[Sent]:
        """Wait until the bot has called ``method`` at least ``count`` times in all."""
        async def enough() -> None:
            while len(self.sent_by(method)) < count:
                self._recorded.clear()
                await self._recorded.wait()

        await asyncio.wait_for(enough(), timeout_s)
        return self.sent_by(method)

    def update(self, kind: str, user_id: int | None, **fields: Any) -> int:
        """Any other kind of update (an edit, an inline query, a channel post…) from
        ``user_id`` (None: an update with no user at all)."""
        body: dict[str, Any] = dict(fields)
        if user_id is not None:
            body.setdefault("from", _user(user_id))
        return self.push({kind: body})

    def _message(self, user_id: int, chat_id: int | None, **extra: Any) -> dict[str, Any]:
        chat_type = "private" if chat_id in (None, user_id) else "group"
        return {"message_id": next(self._message_ids), "date": int(time.time()),
                "chat": {"id": chat_id or user_id, "type": chat_type}, "from": _user(user_id),
                **extra}

    # -- the Bot API ---------------------------------------------------------------------------

    async def _call(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _params(request)
        canary.record_request(f"fake Telegram {method}", request.headers, params)
        queue = self.faults.get(method)
        if queue:
            fault = queue.pop(0)
            if fault.stall_s:
                await asyncio.sleep(fault.stall_s)
            if fault.status:
                return _error(fault.status, fault.description, fault.retry_after)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, f"Not Found: method {method} is not faked")
        return _ok(await handler(params))

    async def _api_getMe(self, params: dict[str, Any]) -> Any:
        return {"id": self.bot_id, "is_bot": True, "first_name": "Steward",
                "username": "steward_test_bot", "can_join_groups": False,
                "can_read_all_group_messages": False, "supports_inline_queries": False}

    async def _api_getUpdates(self, params: dict[str, Any]) -> Any:
        self.polls += 1
        offset = int(params.get("offset") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates:
            self._arrived.clear()
            timeout = float(params.get("timeout") or 0)
            try:
                await asyncio.wait_for(self._arrived.wait(), timeout)
            except TimeoutError:
                return []
        limit = int(params.get("limit") or 100)
        return self.updates[:limit]

    async def _api_sendMessage(self, params: dict[str, Any]) -> Any:
        return self._record("sendMessage", params)

    async def _api_editMessageText(self, params: dict[str, Any]) -> Any:
        return self._record("editMessageText", params, params.get("message_id"))

    async def _api_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        return self._record("editMessageReplyMarkup", params, params.get("message_id"))

    async def _api_sendDocument(self, params: dict[str, Any]) -> Any:
        return self._record("sendDocument", params)

    async def _api_sendPhoto(self, params: dict[str, Any]) -> Any:
        return self._record("sendPhoto", params)

    async def _api_answerCallbackQuery(self, params: dict[str, Any]) -> Any:
        self.sent.append(Sent("answerCallbackQuery", params, time.time()))
        self._recorded.set()
        return True

    async def _api_sendChatAction(self, params: dict[str, Any]) -> Any:
        self.sent.append(Sent("sendChatAction", params, time.time()))
        self._recorded.set()
        return True

    async def _api_setMyCommands(self, params: dict[str, Any]) -> Any:
        self.sent.append(Sent("setMyCommands", params, time.time()))
        self._recorded.set()
        return True

    async def _api_deleteWebhook(self, params: dict[str, Any]) -> Any:
        return True

    async def _api_getFile(self, params: dict[str, Any]) -> Any:
        file_id = str(params["file_id"])
        return {"file_id": file_id, "file_unique_id": f"u{file_id}",
                "file_size": len(self.files[file_id]), "file_path": f"documents/{file_id}"}

    async def _file(self, request: web.Request) -> web.Response:
        file_id = request.match_info["path"].rsplit("/", 1)[-1]
        if request.match_info["token"] != self.token or file_id not in self.files:
            return web.Response(status=404)
        return web.Response(body=self.files[file_id])

    def _record(self, method: str, params: dict[str, Any], message_id: Any = None) -> Any:
        chat_id = params.get("chat_id")
        text = params.get("text") or params.get("caption") or ""
        message: dict[str, Any] = {
            "message_id": int(message_id) if message_id else next(self._message_ids),
            "date": int(time.time()), "chat": {"id": chat_id, "type": "private"},
            "from": {"id": self.bot_id, "is_bot": True, "first_name": "Steward"}, "text": text}
        if "reply_markup" in params:
            message["reply_markup"] = params["reply_markup"]
        self.sent.append(Sent(method, params, time.time(), message))
        self._recorded.set()
        return message


def _user(user_id: int) -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}


async def _params(request: web.Request) -> dict[str, Any]:
    """The call's parameters: query string plus form or JSON body, decoded as the API would."""
    params: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            form = await request.post()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
            params.update({k: {"filename": v.filename, "content": v.file.read()}
                           for k, v in form.items() if isinstance(v, web.FileField)})
    return {k: _decode(k, v) for k, v in params.items()}


def _decode(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if key in INT_FIELDS:
        return int(value) if value.lstrip("-").isdigit() else value
    if key in JSON_FIELDS:
        return json.loads(value)
    return value


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return web.json_response(body, status=status)
