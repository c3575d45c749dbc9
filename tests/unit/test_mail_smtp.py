"""SMTP failures classified (retry, fail, uncertain) and the message as it goes on the wire."""

from __future__ import annotations

import email
import email.policy
import smtplib

import pytest

from skills.email_smtp import Draft, SmtpConfig, SmtpFailure, classify, message_bytes

CONFIG = SmtpConfig("mail.example.org", "me@example.org", port=587)


@pytest.mark.parametrize(("exc", "during_data", "kind", "words"), [
    (smtplib.SMTPResponseException(451, b"4.3.0 Try later"), False, "retry", "451 4.3.0 Try"),
    (smtplib.SMTPResponseException(535, b"5.7.8 Bad credentials"), False, "fail", "535 5.7.8"),
    (smtplib.SMTPDataError(554, b"spam"), False, "fail", "554 spam"),
    (smtplib.SMTPRecipientsRefused({"a@x.org": (550, b"no such user")}), False, "fail",
     "recipient a@x.org refused"),
    (smtplib.SMTPRecipientsRefused({"a@x.org": (450, b"busy")}), False, "retry", "450 busy"),
    (ConnectionRefusedError(111, "Connection refused"), False, "retry",
     "cannot reach the mail server mail.example.org:587"),
    (TimeoutError("timed out"), False, "retry", "no answer in time"),
    (smtplib.SMTPServerDisconnected("gone"), True, "uncertain", "while the message was being"),
    (TimeoutError("timed out"), True, "uncertain", "no answer in time"),
    (smtplib.SMTPNotSupportedError("STARTTLS extension"), False, "fail", "does not support"),
    (SmtpFailure("retry", "as it was"), True, "retry", "as it was"),
])
def test_classify(exc: OSError | SmtpFailure, during_data: bool, kind: str, words: str) -> None:
    failure = classify(exc, during_data, CONFIG)
    assert failure.kind == kind
    assert words in failure.reason


def test_the_password_never_shows_in_the_config() -> None:
    config = SmtpConfig("h", "me@example.org", user="me", password="smtp-canary-9")
    assert "smtp-canary-9" not in repr(config)


def test_message_bytes() -> None:
    draft = Draft("<abc@example.org>", "me@example.org", ("a@x.org",), ("b@x.org",),
                  "Grüße", "Line one\n.\nLine three with ünïcode", 1_767_600_000.0)
    raw = message_bytes(draft)
    assert b"\r\n" in raw
    assert b"\n" not in raw.replace(b"\r\n", b"")
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert (msg["From"], msg["To"], msg["Cc"]) == ("me@example.org", "a@x.org", "b@x.org")
    assert (msg["Subject"], msg["Message-ID"]) == ("Grüße", "<abc@example.org>")
    assert msg["Date"] == "Mon, 05 Jan 2026 08:00:00 +0000"
    assert msg.get_content().replace("\r\n", "\n") == "Line one\n.\nLine three with ünïcode\n"
    assert draft.recipients == ["a@x.org", "b@x.org"]
