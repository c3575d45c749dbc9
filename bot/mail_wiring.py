"""E-mail from the settings: the IMAP and SMTP configs, and the mail skills built on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, tzinfo

from pydantic import SecretStr

from bot.errors import ConfigError
from bot.settings import Settings
from engine.loop import Engine
from engine.model import BackendName
from engine.workers.backend import Backend
from engine.workers.skill import SkillBackend, SkillFn
from skills.email_read import ImapConfig, MailReader
from skills.email_rules import address
from skills.email_send import MailOutbox, SendPolicy
from skills.email_smtp import SmtpConfig
from skills.engine_link import EngineLink
from skills.skill import Skill

IMPLICIT_TLS_PORT = 465


@dataclass(frozen=True, slots=True)
class MailConfig:
    """What is configured: reading (IMAP), sending (SMTP), and the owner's own address."""

    imap: ImapConfig | None = None
    smtp: SmtpConfig | None = None
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class MailSkills:
    """The mail skills for the registry, and the send job's skill for the skill backend."""

    skills: list[Skill] = field(default_factory=list)
    backend: dict[str, SkillFn] = field(default_factory=dict)


def _secret(value: SecretStr | None) -> str | None:
    return None if value is None else value.get_secret_value()


def _address(value: str | None, var: str) -> str | None:
    if value is None:
        return None
    found = address(value)
    if found is None:
        raise ConfigError(f"{var}: must be one e-mail address, like you@example.org")
    return found


def _needs(value: str | None, var: str, because: str) -> str:
    if not value:
        raise ConfigError(f"{var}: required when {because} is set")
    return value


def imap_config(settings: Settings) -> ImapConfig | None:
    """Reading mail, or None when ``STEWARD_IMAP_HOST`` is not set."""
    if settings.imap_host is None:
        return None
    host = "STEWARD_IMAP_HOST"
    port = settings.imap_port or (993 if settings.imap_ssl else 143)
    return ImapConfig(
        host=settings.imap_host, port=port,
        user=_needs(settings.imap_user, "STEWARD_IMAP_USER", host),
        password=_needs(_secret(settings.imap_password), "STEWARD_IMAP_PASSWORD", host),
        mailbox=settings.imap_mailbox, security="ssl" if settings.imap_ssl else "plain")


def smtp_config(settings: Settings) -> SmtpConfig | None:
    """Sending mail, or None when ``STEWARD_SMTP_HOST`` is not set. The From address is
    ``STEWARD_MAIL_FROM``, else the SMTP user when that is an address."""
    if settings.smtp_host is None:
        return None
    sender = _address(settings.mail_from, "STEWARD_MAIL_FROM") or (
        address(settings.smtp_user) if settings.smtp_user else None)
    if sender is None:
        raise ConfigError("STEWARD_MAIL_FROM: required when STEWARD_SMTP_HOST is set and "
                          "STEWARD_SMTP_USER is not an e-mail address")
    password = _secret(settings.smtp_password)
    if settings.smtp_user and not password:
        raise ConfigError("STEWARD_SMTP_PASSWORD: required when STEWARD_SMTP_USER is set")
    implicit = settings.smtp_port == IMPLICIT_TLS_PORT
    return SmtpConfig(host=settings.smtp_host, sender=sender, port=settings.smtp_port,
                      user=settings.smtp_user, password=password,
                      starttls=settings.smtp_starttls and not implicit, ssl=implicit)


def mail_config(settings: Settings) -> MailConfig:
    """The mail configuration; a half-configured server is a ``ConfigError`` (one line)."""
    return MailConfig(imap_config(settings), smtp_config(settings),
                      _address(settings.owner_email, "STEWARD_OWNER_EMAIL"))


def mail_skills(config: MailConfig, link: EngineLink, zone: tzinfo = UTC) -> MailSkills:
    """``read_mail`` when IMAP is configured; ``send_mail`` (and its send job) with SMTP."""
    built = MailSkills()
    if config.imap is not None:
        built.skills.extend(MailReader(config.imap).skills())
    if config.smtp is not None:
        outbox = MailOutbox(link, config.smtp, SendPolicy(config.owner, zone))
        built.skills.extend(outbox.skills())
        built.backend.update(outbox.backend_skills())
    return built


def install_mail(settings: Settings, backends: dict[BackendName, Backend],
                 engine: Engine) -> MailSkills:
    """Check the mail settings (a bad one stops the start) and register the send job's skill
    on the skill backend; the returned ``skills`` belong in the skill registry, behind the
    trust gate."""
    built = mail_skills(mail_config(settings), EngineLink(engine), settings.zone)
    backend = backends.get(BackendName.SKILL)
    if isinstance(backend, SkillBackend):
        for name, fn in built.backend.items():
            backend.register(name, fn)
    return built
