"""SMTP delivery in two steps (stdlib ``smtplib``, run in a thread), and what a failure means.

``open_envelope`` connects, says EHLO, upgrades with STARTTLS when configured, logs in and gives
MAIL FROM and every RCPT TO; nothing has left yet. ``send_data`` sends DATA: from that moment a
lost connection leaves it unknown whether the message left. A failure is classified once:

* a 4xx reply, or the connection failing before DATA      → ``retry`` (nothing left);
* a 5xx reply (login, sender, any recipient, the message) → ``fail`` with the server's words;
* the connection failing during DATA                      → ``uncertain``: never sent again.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Literal

Kind = Literal["retry", "fail", "uncertain"]


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    sender: str
    """The From address (``STEWARD_MAIL_FROM``)."""
    port: int = 587
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    ssl: bool = False
    """Implicit TLS from the first byte (port 465)."""
    timeout_s: float = 30.0

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


class SmtpFailure(Exception):
    """A delivery that did not (or may not have) happen, classified."""

    def __init__(self, kind: Kind, reason: str) -> None:
        self.kind: Kind = kind
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class Draft:
    """What leaves: addresses, subject, body, and the Message-ID fixed when it was queued."""

    message_id: str
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    body: str
    created_at: float

    @property
    def recipients(self) -> list[str]:
        return [*self.to, *self.cc]


def message_bytes(draft: Draft) -> bytes:
    """The message as it goes on the wire (CRLF line ends, headers encoded as needed)."""
    msg = EmailMessage()
    msg["From"] = draft.sender
    msg["To"] = ", ".join(draft.to)
    if draft.cc:
        msg["Cc"] = ", ".join(draft.cc)
    msg["Subject"] = draft.subject
    msg["Date"] = format_datetime(datetime.fromtimestamp(draft.created_at, UTC))
    msg["Message-ID"] = draft.message_id
    msg.set_content(draft.body)
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))


def _text(reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _by_code(code: int, what: str, reply: bytes | str, config: SmtpConfig) -> SmtpFailure:
    said = f"{config.where} answered {code} {_text(reply)}".strip()
    kind: Kind = "retry" if 400 <= code < 500 else "fail"
    return SmtpFailure(kind, f"{what}: {said}")


def classify(exc: OSError | SmtpFailure, during_data: bool, config: SmtpConfig) -> SmtpFailure:
    """One failure of ``smtplib`` (or the network) as retry, fail or uncertain."""
    if isinstance(exc, SmtpFailure):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = exc.recipients
        code, reply = max(refused.values(), key=lambda cr: cr[0])
        return _by_code(code, f"recipient {', '.join(refused)} refused", reply, config)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _by_code(exc.smtp_code, "the mail server refused the message", exc.smtp_error,
                        config)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return SmtpFailure("fail", f"{config.where} does not support {exc}")
    if isinstance(exc, smtplib.SMTPServerDisconnected | OSError):
        why = "no answer in time" if isinstance(exc, TimeoutError) else (
            _text(str(exc)) or type(exc).__name__)
        if during_data:
            return SmtpFailure("uncertain", f"the connection to {config.where} failed while "
                               f"the message was being sent ({why})")
        return SmtpFailure("retry", f"cannot reach the mail server {config.where}: {why}")
    return SmtpFailure("fail", f"{config.where}: {type(exc).__name__}: {_text(str(exc))}")


def _connect(config: SmtpConfig) -> smtplib.SMTP:
    if config.ssl:
        return smtplib.SMTP_SSL(config.host, config.port, timeout=config.timeout_s,
                                context=ssl.create_default_context())
    return smtplib.SMTP(config.host, config.port, timeout=config.timeout_s)


def open_envelope(config: SmtpConfig, draft: Draft) -> smtplib.SMTP:
    """Connect, log in and name sender and recipients; raises ``SmtpFailure``. Blocking."""
    try:
        smtp = _connect(config)
    except OSError as exc:  # smtplib's errors are OSErrors too: classified right here
        raise classify(exc, False, config) from None
    try:
        smtp.ehlo()
        if config.starttls and not config.ssl:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if config.user:
            smtp.login(config.user, config.password or "")
        code, reply = smtp.mail(draft.sender)
        if code != 250:
            raise _by_code(code, "the sender was refused", reply, config)
        for rcpt in draft.recipients:
            code, reply = smtp.rcpt(rcpt)
            if code not in (250, 251):
                raise _by_code(code, f"recipient {rcpt} refused", reply, config)
    except (OSError, SmtpFailure) as exc:
        close(smtp)
        raise classify(exc, False, config) from None
    return smtp


def send_data(config: SmtpConfig, smtp: smtplib.SMTP, data: bytes) -> str:
    """Send the message (DATA) and say goodbye; the server's reply. Blocking."""
    try:
        code, reply = smtp.data(data)
        if code != 250:
            raise _by_code(code, "the message was refused", reply, config)
    except smtplib.SMTPDataError as exc:  # refused at the DATA command: nothing was sent
        close(smtp)
        raise classify(exc, False, config) from None
    except (OSError, SmtpFailure) as exc:
        close(smtp)
        raise classify(exc, True, config) from None
    close(smtp)
    return f"{code} {_text(reply)}"


def close(smtp: smtplib.SMTP) -> None:
    """QUIT politely; a connection that is already gone is simply dropped."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
