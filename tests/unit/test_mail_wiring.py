"""Mail settings: what is configured, one-line errors naming the variable, passwords never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import ConfigError
from bot.mail_wiring import mail_config, mail_skills
from bot.settings import SECRET_VARS, load_settings
from security.risk import Risk
from skills.engine_link import EngineLink

IMAP_PASSWORD = "imap-canary-Kx3"
SMTP_PASSWORD = "smtp-canary-Pw7"


def setenv(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"STEWARD_{name}", value)


def test_nothing_configured_means_no_mail(clean_env: Path) -> None:
    config = mail_config(load_settings())
    assert (config.imap, config.smtp, config.owner) == (None, None, None)
    assert mail_skills(config, EngineLink()).skills == []


def test_a_full_configuration(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, IMAP_HOST="imap.example.org", IMAP_USER="me", IMAP_PASSWORD=IMAP_PASSWORD,
           IMAP_MAILBOX="Work", SMTP_HOST="smtp.example.org", SMTP_USER="me@example.org",
           SMTP_PASSWORD=SMTP_PASSWORD, OWNER_EMAIL="Me <ME@example.org>")
    config = mail_config(load_settings())
    assert config.imap is not None
    assert (config.imap.where, config.imap.mailbox, config.imap.security) == (
        "imap.example.org:993", "Work", "ssl")
    assert config.smtp is not None
    assert (config.smtp.where, config.smtp.sender, config.smtp.starttls, config.smtp.ssl) == (
        "smtp.example.org:587", "me@example.org", True, False)
    assert config.owner == "me@example.org"
    assert IMAP_PASSWORD not in repr(config)
    assert SMTP_PASSWORD not in repr(config)
    built = mail_skills(config, EngineLink())
    assert [(s.name, s.risk) for s in built.skills] == [
        ("read_mail", Risk.LOW), ("send_mail", Risk.MEDIUM)]
    assert list(built.backend) == ["mail_deliver"]


def test_ports_follow_the_tls_choice(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, IMAP_HOST="h", IMAP_USER="u", IMAP_PASSWORD=IMAP_PASSWORD,
           IMAP_SSL="false", SMTP_HOST="s", SMTP_PORT="465", MAIL_FROM="me@example.org")
    config = mail_config(load_settings())
    assert config.imap is not None
    assert (config.imap.port, config.imap.security) == (143, "plain")
    assert config.smtp is not None
    assert (config.smtp.ssl, config.smtp.starttls, config.smtp.user) == (True, False, None)


@pytest.mark.parametrize(("values", "message"), [
    ({"IMAP_HOST": "h"}, "STEWARD_IMAP_USER: required when STEWARD_IMAP_HOST is set"),
    ({"IMAP_HOST": "h", "IMAP_USER": "u"},
     "STEWARD_IMAP_PASSWORD: required when STEWARD_IMAP_HOST is set"),
    ({"SMTP_HOST": "s"}, "STEWARD_MAIL_FROM: required when STEWARD_SMTP_HOST is set"),
    ({"SMTP_HOST": "s", "MAIL_FROM": "not-an-address"}, "STEWARD_MAIL_FROM: must be one e-mail"),
    ({"SMTP_HOST": "s", "SMTP_USER": "me@example.org"},
     "STEWARD_SMTP_PASSWORD: required when STEWARD_SMTP_USER is set"),
    ({"OWNER_EMAIL": "me"}, "STEWARD_OWNER_EMAIL: must be one e-mail address"),
])
def test_half_a_configuration_is_one_clear_error(
        clean_env: Path, monkeypatch: pytest.MonkeyPatch, values: dict[str, str],
        message: str) -> None:
    setenv(monkeypatch, **values)
    with pytest.raises(ConfigError, match=message):
        mail_config(load_settings())


def test_a_bad_port_names_the_variable(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    setenv(monkeypatch, SMTP_PORT="99999")
    with pytest.raises(ConfigError, match="STEWARD_SMTP_PORT: must be less than 65536"):
        load_settings()


def test_mail_passwords_are_secrets(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert {"STEWARD_IMAP_PASSWORD", "STEWARD_SMTP_PASSWORD"} <= SECRET_VARS
    setenv(monkeypatch, IMAP_PASSWORD=IMAP_PASSWORD, SMTP_PASSWORD=SMTP_PASSWORD)
    settings = load_settings()
    assert {IMAP_PASSWORD, SMTP_PASSWORD} <= set(settings.secret_values())
    assert IMAP_PASSWORD not in repr(settings)
