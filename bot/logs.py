"""Steward's log lines: readable on a terminal, JSON lines for collectors, always redacted."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from security.redaction import RedactingFilter


class JsonLines(logging.Formatter):
    """One JSON object a line (time, level, logger, message, traceback) for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        entry = {"ts": at.isoformat(timespec="milliseconds"), "level": record.levelname.lower(),
                 "logger": record.name, "msg": record.getMessage()}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(log_format: str = "auto", stream: TextIO | None = None) -> None:
    """Lines on stderr for ``steward run``, with secrets redacted: readable on a terminal,
    JSON lines otherwise (``auto``), or as ``STEWARD_LOG_FORMAT`` says; the libraries'
    warnings (root logger) go through the same redacting handler."""
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    as_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    handler.setFormatter(JsonLines() if as_json else logging.Formatter(
        "%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger("steward")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False
    if not logging.getLogger().handlers:
        logging.getLogger().addHandler(handler)


