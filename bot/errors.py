"""Errors of the bot package: configuration, the process's environment, the command line.

BotError
├── ConfigError       a setting cannot be used; the message is one line naming the variable
├── AppError          the process cannot work here: the data dir is unusable
│   └── AlreadyRunning    another ``steward run`` holds the data dir's lock
└── UsageError        the command line itself is wrong
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
