"""A library's handled error is logged as one line, never a stack trace."""

from __future__ import annotations

import logging
import sys

from bot.process import OneLine


def test_a_traceback_becomes_one_line() -> None:
    try:
        raise TimeoutError("timed out")
    except TimeoutError:
        record = logging.LogRecord("telegram.ext.Updater", logging.ERROR, __file__, 1,
                                   "polling %s failed", ("cleanup",), exc_info=True)
        record.exc_info = sys.exc_info()
    assert OneLine().filter(record)
    assert record.exc_info is None
    assert record.getMessage() == "polling cleanup failed (TimeoutError: timed out)"
    assert "Traceback" not in logging.Formatter().format(record)


def test_a_record_without_an_exception_is_left_alone() -> None:
    record = logging.LogRecord("telegram.ext.Updater", logging.WARNING, __file__, 1,
                               "slow poll %d", (3,), exc_info=None)
    assert OneLine().filter(record)
    assert record.getMessage() == "slow poll 3"
