"""Reading one e-mail's bytes: plain, HTML, attachments, odd encodings and outright garbage."""

from __future__ import annotations

import pytest

from skills.email_parse import bytes_text, decode_words, html_to_text, parse_mail

HEAD = b"From: Ann <ann@example.com>\r\nTo: me@example.org\r\nSubject: Hi\r\n"


def test_a_plain_mail() -> None:
    mail = parse_mail(HEAD + b"Message-ID: <1@x>\r\nDate: Mon, 5 Jan 2026 09:00:00 +0000\r\n\r\n"
                      b"Hello there.\r\n", 7, flags=("\\Seen",))
    assert (mail.uid, mail.sender, mail.to, mail.subject) == (
        7, "Ann <ann@example.com>", "me@example.org", "Hi")
    assert (mail.message_id, mail.text, mail.flags) == ("<1@x>", "Hello there.", ("\\Seen",))
    assert mail.parse_error is None
    assert not mail.truncated
    assert mail.as_json()["from"] == "Ann <ann@example.com>"


def test_plain_text_is_preferred_and_html_is_stripped() -> None:
    alternative = (HEAD + b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
                   b"--b\r\nContent-Type: text/html\r\n\r\n<p>HTML</p>\r\n"
                   b"--b\r\nContent-Type: text/plain\r\n\r\nPlain\r\n--b--\r\n")
    assert parse_mail(alternative).text == "Plain"
    html = HEAD + (b"Content-Type: text/html; charset=utf-8\r\n\r\n<html><style>p{}</style>"
                   b"<script>evil()</script><p>One</p><div>Two &amp; three</div></html>")
    assert parse_mail(html).text == "One\nTwo & three"


def test_attachments_are_named_not_read() -> None:
    mixed = (HEAD + b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
             b"--b\r\nContent-Type: text/plain\r\n\r\nSee attached\r\n"
             b'--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; '
             b'filename="=?utf-8?q?R=C3=A9sum=C3=A9.pdf?="\r\nContent-Transfer-Encoding: '
             b"base64\r\n\r\nJVBERi0=\r\n--b--\r\n")
    mail = parse_mail(mixed)
    assert mail.text == "See attached"
    assert mail.attachments == ("Résumé.pdf",)


@pytest.mark.parametrize(("raw", "subject", "text"), [
    (b"Subject: caf\xe9\r\n\r\nna\xefve", "café", "naïve"),                       # cp1252 bytes
    (b"Subject: caf\xc3\xa9\r\n\r\nna\xc3\xafve", "café", "naïve"),               # raw UTF-8
    (b"Subject: =?iso-8859-1?q?caf=E9?=\r\n\r\nx", "café", "x"),
    (b"Subject: =?bogus?q?caf=E9?=\r\n\r\nx", "caf\ufffd", "x"),           # unknown charset
    (b"Subject: x\r\nContent-Type: text/plain; charset=nope\r\n\r\nna\xefve", "x", "naïve"),
])
def test_odd_encodings_are_read(raw: bytes, subject: str, text: str) -> None:
    mail = parse_mail(raw)
    assert mail.subject == subject
    assert mail.text == text


def test_garbage_is_a_note_not_a_crash() -> None:
    mail = parse_mail(b"\x00\xff\xfe\x01 binary junk", 3)
    assert mail.uid == 3
    assert mail.parse_error is not None
    assert "not a well-formed e-mail" in mail.parse_error
    assert "binary junk" in mail.text


def test_a_long_body_is_cut_with_a_note() -> None:
    mail = parse_mail(HEAD + b"\r\n" + b"y" * 500, max_text_chars=100)
    assert mail.truncated
    assert mail.text.startswith("y" * 100)
    assert mail.text.endswith("[cut: 400 more characters]")


def test_a_part_fetched_mail_says_so() -> None:
    assert parse_mail(HEAD + b"\r\nabc", size_bytes=10_000, fetched_part=True).truncated


def test_helpers() -> None:
    assert bytes_text(b"\xe9t\xe9") == "été"
    assert decode_words("=?utf-8?b?w6k=?= =?utf-8?q?t=C3=A9?=") == "été"
    assert html_to_text("<br>a<li>b</li>") == "a\nb"
