"""A fake IMAP4rev1 server on 127.0.0.1 speaking the wire protocol ``imaplib`` uses.

It holds one mailbox tests append messages to, and answers CAPABILITY, LOGIN, SELECT/EXAMINE,
UID SEARCH (ALL, UID set, HEADER), UID FETCH (UID, FLAGS, RFC822.SIZE, BODY[]/BODY.PEEK[] with
an optional ``<0.N>`` partial, as literals), NOOP and LOGOUT; anything else is BAD. Faults:
``down()`` refuses connections, a wrong password gets NO, ``stall_on`` never answers a command,
``renumber()`` changes UIDVALIDITY, and any bytes can be appended as a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field

CAPABILITIES = "IMAP4rev1 AUTH=PLAIN"
_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')
_PARTIAL = re.compile(r"BODY(\.PEEK)?\[\](?:<(\d+)\.(\d+)>)?", re.I)


@dataclass
class Stored:
    uid: int
    raw: bytes
    flags: set[str] = field(default_factory=set)


def _tokens(text: str) -> list[str]:
    return [q.replace('\\"', '"').replace("\\\\", "\\") if q or not a else a
            for q, a in _TOKEN.findall(text)]


def _uid_set(text: str, highest: int) -> set[int]:
    """The UIDs a set like ``1,3:5,7:*`` names (``*`` is the highest UID in use)."""
    found: set[int] = set()
    for part in text.split(","):
        low, _, high = part.partition(":")
        a = highest if low == "*" else int(low)
        b = a if not high else (highest if high == "*" else int(high))
        found.update(range(min(a, b), max(a, b) + 1))
    return found


class FakeImap:
    """The server; ``await start()``, append messages, point ``imaplib`` at ``port``."""

    def __init__(self, password: str, user: str = "owner@example.org",
                 mailbox: str = "INBOX") -> None:
        self.user = user
        self.password = password
        self.mailbox = mailbox
        self.messages: list[Stored] = []
        self.uidvalidity = 1001
        self.uidnext = 1
        self.commands: list[str] = []
        self.logins = 0
        self.stall_on: str | None = None
        """A command name (or ``GREETING``) the server never answers."""
        self.port = 0
        self._server: asyncio.Server | None = None
        self._stalls: list[asyncio.Event] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    # -- the mailbox ------------------------------------------------------------------------

    def append(self, raw: bytes, flags: set[str] | None = None) -> int:
        stored = Stored(self.uidnext, raw, set(flags or ()))
        self.messages.append(stored)
        self.uidnext += 1
        return stored.uid

    def renumber(self) -> None:
        """A new UIDVALIDITY: every message gets a new UID, old cursors are meaningless."""
        self.uidvalidity += 1
        self.uidnext = 1
        for stored in self.messages:
            stored.uid = self.uidnext
            self.uidnext += 1

    def flags_of(self, uid: int) -> set[str]:
        return next(m.flags for m in self.messages if m.uid == uid)

    # -- running ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        """Stop listening: connections are refused until ``start()`` again (same port)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def close(self) -> None:
        """Stop listening and end every session (a stalled one too)."""
        for stall in self._stalls:
            stall.set()
        for writer in list(self._writers):
            writer.close()
        await self.down()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            await _Session(self, reader, writer).run()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)

    async def stall(self) -> None:
        event = asyncio.Event()
        self._stalls.append(event)
        await event.wait()


class _Session:
    """One client connection."""

    def __init__(self, server: FakeImap, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.s = server
        self.reader = reader
        self.writer = writer
        self.authed = False
        self.selected = False
        self.readonly = False

    def send(self, line: str | bytes) -> None:
        self.writer.write((line.encode() if isinstance(line, str) else line) + b"\r\n")

    async def run(self) -> None:
        if self.s.stall_on == "GREETING":
            await self.s.stall()
            return
        self.send("* OK fake IMAP4rev1 ready")
        await self.writer.drain()
        while line := await self.reader.readline():
            text = line.decode("utf-8", errors="replace").rstrip("\r\n")
            tag, _, rest = text.partition(" ")
            name, _, args = rest.partition(" ")
            name = name.upper()
            self.s.commands.append(f"{tag} LOGIN ***" if name == "LOGIN" else text)
            if name == "UID":
                sub, _, args = args.partition(" ")
                name = f"UID {sub.upper()}"
            if self.s.stall_on == name:
                await self.s.stall()
                return
            if not await self.command(tag, name, args):
                return
            await self.writer.drain()

    async def command(self, tag: str, name: str, args: str) -> bool:
        """Answer one command; False once the connection is to close."""
        if name == "LOGOUT":
            self.send("* BYE logging out")
            self.send(f"{tag} OK LOGOUT completed")
            await self.writer.drain()
            return False
        handler = {"CAPABILITY": self.capability, "NOOP": self.noop, "LOGIN": self.login,
                   "SELECT": self.select, "EXAMINE": self.select,
                   "UID SEARCH": self.search, "UID FETCH": self.fetch}.get(name)
        if handler is None:
            self.send(f"{tag} BAD unknown or unsupported command")
            return True
        handler(tag, name, args)
        return True

    def capability(self, tag: str, name: str, args: str) -> None:
        self.send(f"* CAPABILITY {CAPABILITIES}")
        self.send(f"{tag} OK CAPABILITY completed")

    def noop(self, tag: str, name: str, args: str) -> None:
        self.send(f"{tag} OK NOOP completed")

    def login(self, tag: str, name: str, args: str) -> None:
        words = _tokens(args)
        if len(words) != 2:
            self.send(f"{tag} BAD LOGIN needs a user and a password")
        elif words[0] != self.s.user or words[1] != self.s.password:
            self.send(f"{tag} NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)")
        else:
            self.authed = True
            self.s.logins += 1
            self.send(f"{tag} OK [CAPABILITY {CAPABILITIES}] LOGIN completed")

    def select(self, tag: str, name: str, args: str) -> None:
        words = _tokens(args)
        if not self.authed:
            self.send(f"{tag} BAD log in first")
            return
        if not words or words[0].upper() != self.s.mailbox.upper():
            self.send(f"{tag} NO [NONEXISTENT] no such mailbox")
            return
        self.selected, self.readonly = True, name == "EXAMINE"
        self.send(f"* {len(self.s.messages)} EXISTS")
        self.send("* 0 RECENT")
        self.send("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)")
        self.send(f"* OK [UIDVALIDITY {self.s.uidvalidity}] UIDs valid")
        self.send(f"* OK [UIDNEXT {self.s.uidnext}] predicted next UID")
        mode = "READ-ONLY" if self.readonly else "READ-WRITE"
        self.send(f"{tag} OK [{mode}] {name} completed")

    def _matching(self, words: list[str]) -> list[Stored] | None:
        highest = max((m.uid for m in self.s.messages), default=0)
        if words == ["ALL"]:
            return list(self.s.messages)
        if len(words) == 2 and words[0].upper() == "UID":
            wanted = _uid_set(words[1], highest)
            return [m for m in self.s.messages if m.uid in wanted]
        if len(words) == 3 and words[0].upper() == "HEADER":
            key = words[1].lower().encode()
            return [m for m in self.s.messages if any(
                line.lower().startswith(key + b":") and words[2].encode() in line
                for line in m.raw.split(b"\r\n\r\n", 1)[0].splitlines())]
        return None

    def search(self, tag: str, name: str, args: str) -> None:
        if not self.selected:
            self.send(f"{tag} BAD select a mailbox first")
            return
        found = self._matching(_tokens(args))
        if found is None:
            self.send(f"{tag} BAD unsupported search criteria")
            return
        self.send("* SEARCH" + "".join(f" {m.uid}" for m in found))
        self.send(f"{tag} OK UID SEARCH completed")

    def fetch(self, tag: str, name: str, args: str) -> None:
        uid_text, _, items = args.partition(" ")
        body = _PARTIAL.search(items)
        if not self.selected or not items:
            self.send(f"{tag} BAD select a mailbox and name what to fetch")
            return
        highest = max((m.uid for m in self.s.messages), default=0)
        wanted = _uid_set(uid_text, highest)
        for seq, stored in enumerate(self.s.messages, start=1):
            if stored.uid in wanted:
                self._fetch_one(seq, stored, items.upper(), body)
        self.send(f"{tag} OK UID FETCH completed")

    def _fetch_one(self, seq: int, stored: Stored, items: str,
                   body: re.Match[str] | None) -> None:
        if body is not None and not body.group(1) and not self.readonly:
            stored.flags.add("\\Seen")  # a fetch without PEEK marks the message read
        parts = [f"UID {stored.uid}"]
        if "FLAGS" in items:
            parts.append(f"FLAGS ({' '.join(sorted(stored.flags))})")
        if "RFC822.SIZE" in items:
            parts.append(f"RFC822.SIZE {len(stored.raw)}")
        head = f"* {seq} FETCH ({' '.join(parts)}"
        if body is None:
            self.send(head + ")")
            return
        data, label = stored.raw, "BODY[]"
        if body.group(2) is not None:
            start, count = int(body.group(2)), int(body.group(3))
            data, label = data[start:start + count], f"BODY[]<{start}>"
        self.writer.write(f"{head} {label} {{{len(data)}}}\r\n".encode() + data)
        self.send(")")
