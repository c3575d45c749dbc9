"""The status screen, one renderer for the terminal and Telegram; JSON log lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.logs import configure_logging
from bot.status_view import Picture, render
from engine.admission import AdmissionStatus, Disk
from engine.judgment import Rates
from engine.model import JobState
from engine.rules.judgment import NotifyRate
from engine.selfheal import Incident

NOW = 1_750_000_000.0


def picture(**changes: object) -> Picture:
    base = Picture(now=NOW, counts={JobState.RUNNING: 2, JobState.DONE: 40, JobState.FAILED: 1})
    return Picture(**{**{f: getattr(base, f) for f in base.__slots__}, **changes})  # type: ignore[arg-type]


def test_a_quiet_steward_fits_in_a_few_lines() -> None:
    assert render(picture()) == ("Status\nJobs: 2 running, 40 done, 1 failed\n"
                                 "Decisions waiting: 0\nNotifications waiting: 0")


def test_trouble_shows_on_the_same_screen_for_both_channels() -> None:
    full = AdmissionStatus(Disk(93, 100), 0.85, True,
                           "disk 93% full (limit 85%): new background work is refused")
    incident = Incident(4, "shell|other|x", "shell", "other", "exit <1> & boom", 6, NOW - 900,
                        NOW - 60, 77, 3, None)
    p = picture(admission=full, incidents=[incident], heals={"healed": 2, "pending": 0},
                spend_today_usd=1.234, queue_age_s=95.0, engine="running (pid 12)",
                last_backup_at=NOW - 7200, poll_age_s=3.0,
                rates=Rates(NotifyRate(1, 0, 20), NotifyRate(5, 1, 100)))
    text = render(p)
    html = render(p, html=True)
    assert text.splitlines()[:3] == ["Status", "Engine: running (pid 12)",
                                     "Jobs: 2 running, 40 done, 1 failed"]
    for line in ("Oldest ready job has waited 1 min 35 s",
                 "Disk: 93% used — disk 93% full (limit 85%): new background work is refused",
                 "Incident 4: shell other, 6 times: exit <1> & boom", "Self-heal: 2 healed",
                 "Model spend today: $1.23",
                 "Background results that notified: 5 of 100 (5.0%) in the last 7 days, "
                 "1 of 20 (5.0%) today",
                 "Last backup: 2 h 0 min ago", "Telegram: last poll 3.0 s ago"):
        assert line in text.splitlines(), text
    assert html.startswith("<b>Status</b>\n")
    assert "exit &lt;1&gt; &amp; boom" in html
    assert html.replace("<b>Status</b>", "Status").replace("&lt;", "<").replace(
        "&gt;", ">").replace("&amp;", "&") == text


@pytest.fixture
def steward_logger() -> Iterator[logging.Logger]:
    logger = logging.getLogger("steward")
    saved = logger.handlers[:], logger.level, logger.propagate
    root_handlers = logging.getLogger().handlers[:]
    yield logger
    logger.handlers[:], logger.level, logger.propagate = saved[0], saved[1], saved[2]
    logging.getLogger().handlers[:] = root_handlers


def test_log_lines_are_json_off_a_terminal_and_redacted(steward_logger: logging.Logger,
                                                        tmp_path: Path) -> None:
    sink = io.StringIO()
    configure_logging("auto", sink)
    key = "sk-proj-" + "Q" * 24
    steward_logger.info("calling with %s for job %d", key, 7)
    try:
        raise ValueError(f"bad key {key}")
    except ValueError:
        steward_logger.exception("it broke")
    first, second = (json.loads(line) for line in sink.getvalue().splitlines() if line[:1] == "{")
    assert (first["level"], first["logger"]) == ("info", "steward")
    assert first["msg"] == "calling with [redacted] for job 7"
    assert second["msg"] == "it broke"
    assert "ValueError: bad key [redacted]" in second["exc"]
    assert key not in sink.getvalue()


def test_log_lines_can_be_forced_readable(steward_logger: logging.Logger) -> None:
    sink = io.StringIO()
    configure_logging("text", sink)
    steward_logger.info("started")
    assert sink.getvalue().rstrip().endswith(" started")
    assert not sink.getvalue().startswith("{")
