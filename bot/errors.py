"""Errors of the bot package: configuration, the process's environment, the command line.

BotError
├── ConfigError       a setting cannot be used; the message is one line naming the variable
├── AppError          the process cannot work here: the data dir is unusable
│   └── AlreadyRunning    another ``steward run`` holds the data dir's lock
├── UsageError        the command line itself is wrong
├── Refused           DATA the bot will not take (binary, too big, unreadable); says why
└── ChannelError      a message could not be delivered to the owner
    ├── SendLater         the channel asked us to wait (Telegram's 429 retry_after)
    ├── Unreachable       network trouble or a timeout: try again with backoff
    ├── Blocked           the owner blocked the bot: nothing can be sent for now
    └── Rejected          the channel refused this message (bad HTML, too long)
"""

from __future__ import annotations


class BotError(Exception):
    """Root of the errors the bot package raises on purpose."""


class ConfigError(BotError):
    """The configuration cannot be used; the message is one line naming the variable."""


class AppError(BotError):
    """The process cannot work here: the data dir is unusable or already in use."""


class AlreadyRunning(AppError):
    """Another ``steward run`` holds the data dir's lock."""


class UsageError(BotError):
    """The command line itself is wrong."""


class Refused(BotError):
    """DATA the bot will not take; the message is a polite sentence for the owner."""


class ChannelError(BotError):
    """A message could not be delivered; the subclass says what to do about it."""


class SendLater(ChannelError):
    """The channel asked us to wait ``delay_s`` before sending anything more."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        super().__init__(f"rate limited: wait {delay_s:g} s")


class Unreachable(ChannelError):
    """Network trouble or a timeout: the message may go through if tried again later."""


class Blocked(ChannelError):
    """The owner blocked the bot (or the chat is gone): nothing can be sent for now."""


class Rejected(ChannelError):
    """The channel refused this very message (bad markup, too long): retrying as is won't help."""
