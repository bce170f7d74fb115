"""Scrub personal data from corrections before they become training data.

Deliberately simple patterns, tuned to over-match: a correction loses a number that only
looked like a phone number, rather than a model learning someone's real one.
"""

from __future__ import annotations

import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# 13-19 digits, optionally grouped by spaces or dashes: card-like numbers.
CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")
# An optional +country code, then 7-15 digits with common separators.
PHONE = re.compile(r"(?<![\w])\+?\d[\d ().-]{5,18}\d(?![\w])")


def scrub(text: str) -> str:
    text = EMAIL.sub("[EMAIL]", text)
    text = CARD.sub("[CARD]", text)
    return PHONE.sub(lambda m: "[PHONE]" if sum(c.isdigit() for c in m.group()) >= 7 else m.group(), text)


def scrub_messages(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{**m, "content": scrub(m["content"])} for m in messages]
