"""Telegram HTML split safely: never inside a tag or an entity, tags balanced in every part."""

from __future__ import annotations

import random
import re

import pytest

from bot.markup import cut_at, esc, plain, split, split_plain, units

PIECES = ["hello", "<b>bold text</b>", "&amp;", "a&lt;b", "<i>it <b>bi</b> x</i>", "\n",
          '<a href="https://x.y/?a=1&amp;b=2">link</a>', "<pre>code\nline</pre>", "ü😀",
          "x" * 150, '<blockquote expandable="">quote</blockquote>']


def balanced(part: str) -> bool:
    stack: list[str] = []
    for m in re.finditer(r"<(/?)([\w-]+)[^>]*>", part):
        if m.group(1):
            if not stack or stack.pop() != m.group(2):
                return False
        else:
            stack.append(m.group(2))
    return not stack


def test_short_text_is_one_part() -> None:
    assert split("<b>hi</b>") == ["<b>hi</b>"]


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("limit", [100, 257, 4096])
def test_parts_fit_and_never_cut_a_tag_or_an_entity(seed: int, limit: int) -> None:
    rng = random.Random(seed)
    text = " ".join(rng.choice(PIECES) for _ in range(rng.randint(50, 600)))
    parts = split(text, limit)
    for part in parts:
        assert units(part) <= limit
        assert balanced(part), part
        assert re.fullmatch(r"([^&<>]|&#?\w+;|<[^<>]*>)*", part), part  # whole tags, entities
        assert plain(part).strip()
    without_links = re.sub(r"<a [^>]*>|</a>", "", text)
    joined = "".join(re.sub(r"<a [^>]*>|</a>", "", p) for p in parts)
    assert plain(joined).split() == plain(without_links).split()


def test_open_tags_are_closed_and_reopened_across_a_cut() -> None:
    parts = split("<b>" + "word " * 40 + "</b>", 60)
    assert all(p.startswith("<b>") and p.endswith("</b>") for p in parts)
    assert "".join(plain(p) for p in parts) == "word " * 40


def test_attributes_survive_a_reopening() -> None:
    parts = split('<a href="https://e.com/x">' + "y " * 80 + "</a>", 80)
    assert all(p.startswith('<a href="https://e.com/x">') for p in parts)


@pytest.mark.parametrize(("text", "at"), [
    ("x" * 25 + "\n" + "a" * 10 + " " + "b" * 30, 26),  # a line end in the second half
    ("a" * 30 + " " + "b" * 30, 31),  # else a space
    ("early\n" + "c" * 100, 40),  # a line end too early to be worth it
    ("c" * 100, 40),
    ("short", 5),
])
def test_cuts_prefer_line_ends_then_spaces(text: str, at: int) -> None:
    assert cut_at(text, 40) == at


def test_length_counts_utf16_units_as_telegram_does() -> None:
    parts = split("😀" * 3000, 4096)  # each emoji is two units
    assert [units(p) for p in parts] == [4096, 1904]


def test_plain_text_keeps_links_and_unescapes() -> None:
    html = '<b>a &amp; b</b> <a href="https://e.com">site</a> <a href="https://f.com">https://f.com</a>'
    assert plain(html) == "a & b site (https://e.com) https://f.com"
    assert plain(esc("<script> & co")) == "<script> & co"


def test_split_plain_cuts_plain_text() -> None:
    parts = split_plain("word " * 2000, 4096)
    assert all(len(p) <= 4096 for p in parts)
    assert "".join(parts) == "word " * 2000
