"""``steward doctor``'s checks of Telegram and memory: the bot answers ``getMe``, core memory is
within its limits, the LanceDB copy opens (or will be rebuilt) and the embedder loads offline.

Nothing stored is changed, and the bot token never appears in what they say.
"""

from __future__ import annotations

import asyncio
import time

import httpx

from bot import render
from bot.memory_wiring import LANCE_DIR
from bot.settings import Settings
from bot.telegram.config import api_urls
from memory.core import FILE_NAME, MAX_CHARS, MAX_LINES, usage
from memory.errors import MemoryFault

GET_ME_TIMEOUT_S = 5.0


def checks(settings: Settings) -> list[render.Check]:
    """Telegram, then memory: core file, index, embedder."""
    return [telegram(settings), core_memory(settings), *archival(settings)]


def telegram(settings: Settings) -> render.Check:
    """With a token (settings already insist on a trusted user with it): ``getMe`` through
    ``STEWARD_TELEGRAM_BASE_URL`` within a few seconds, naming the bot."""
    token = settings.telegram_token
    if token is None:
        return render.Check("telegram", "warn", "no STEWARD_TELEGRAM_TOKEN: the console "
                            "channel only (`steward chat`)")
    secret = token.get_secret_value()
    api, _ = api_urls(settings.telegram_base_url)
    where = settings.telegram_base_url
    try:
        response = httpx.get(f"{api}{secret}/getMe", timeout=GET_ME_TIMEOUT_S)
    except httpx.HTTPError as exc:
        reason = str(exc).replace(secret, "<token>") or type(exc).__name__
        return render.Check("telegram", "fail", f"getMe at {where} failed: {reason}")
    return _get_me(response, where, settings.trusted_user_id)


def _get_me(response: httpx.Response, where: str, owner: int | None) -> render.Check:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 401:
        return render.Check("telegram", "fail", f"{where} refused the token (401 "
                            "Unauthorized): check STEWARD_TELEGRAM_TOKEN")
    if not (isinstance(body, dict) and body.get("ok") and isinstance(body.get("result"), dict)):
        detail = body.get("description") if isinstance(body, dict) else None
        return render.Check("telegram", "fail", f"getMe at {where} answered "
                            f"{response.status_code}: {detail or 'not a Bot API answer'}")
    name = body["result"].get("username") or body["result"].get("first_name") or "?"
    return render.Check("telegram", "ok", f"bot @{name} answers at {where}; "
                        f"owner {owner}")


def core_memory(settings: Settings) -> render.Check:
    path = settings.data_dir / FILE_NAME
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return render.Check("core memory", "warn", f"{path} is missing: it is seeded from "
                            "the template when Steward next starts")
    except (OSError, UnicodeDecodeError) as exc:
        return render.Check("core memory", "fail", f"{path} cannot be read: {exc}")
    used = usage(text)
    over = used.lines > MAX_LINES or used.chars > MAX_CHARS
    return render.Check("core memory", "fail" if over else "ok", f"{path}: {used}"
                        + ("; over the limit: shorten it by hand" if over else ""))


def archival(settings: Settings) -> list[render.Check]:
    """The LanceDB copy (read only) and the embedder, loaded and run once (a few seconds)."""
    from memory.embeddings import OnnxMiniLM
    from memory.lance import LanceIndex

    embedder = OnnxMiniLM()
    index = LanceIndex(settings.data_dir / LANCE_DIR, embedder.dim, embedder.model_id)
    health, detail = asyncio.run(index.inspect())
    if health == "ok":
        checks = [render.Check("memory index", "ok", detail)]
    elif health == "missing":
        checks = [render.Check("memory index", "warn", f"not built yet ({detail}): it is "
                               "built from SQLite when memory is first used")]
    else:
        checks = [render.Check("memory index", "warn", f"{health}: {detail}; it is rebuilt "
                               "from SQLite (nothing is lost) when memory is next used")]
    started = time.perf_counter()
    try:
        embedder.embed(["steward doctor"])
    except MemoryFault as exc:
        return [*checks, render.Check("embedder", "fail", str(exc))]
    took_ms = (time.perf_counter() - started) * 1000
    return [*checks, render.Check("embedder", "ok", f"{embedder.model_id} loads offline "
                                  f"({took_ms:.0f} ms)")]
