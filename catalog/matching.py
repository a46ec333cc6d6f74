"""Which synced offers are a product: names, denominations, regions and currencies normalised,
then compared token by token. Only a suggestion: an admin confirms each match.

Supplier names differ in spelling ("PUBG MOBILE 60UC", "Pubg Mobile - 60 UC", "Steam Wallet $20
USA"); the rules here are few and plain on purpose, so an admin can predict them:

- lower case, punctuation dropped, a number split from the letters around it ("60uc" → "60 uc"),
  thousands separators dropped ("1,000" → "1000"), a number's trailing zeros too ("20.00" → "20");
- currency signs and words become codes ("$", "dollars" → "usd"; "€" → "eur"; "₽" → "rub");
- region words become one code ("usa", "united states" → "us"; "worldwide", "ww" → "global").

An offer matches when every word of the product's name and of its denomination is among the
offer's words, and the offer names no region other than the product's. An offer that names the
product's region scores higher than one that names none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

CURRENCY_SIGNS = {"$": " usd ", "€": " eur ", "£": " gbp ", "₽": " rub ", "₺": " try "}
WORD_ALIASES = {
    "dollar": "usd",
    "dollars": "usd",
    "euro": "eur",
    "euros": "eur",
    "ruble": "rub",
    "rubles": "rub",
    "rouble": "rub",
    "roubles": "rub",
    "pound": "gbp",
    "pounds": "gbp",
    "usa": "us",
    "america": "us",
    "europe": "eu",
    "worldwide": "global",
    "ww": "global",
    "international": "global",
    "uk": "gb",
    "russia": "ru",
    "turkey": "tr",
}
PHRASE_ALIASES = {"united states": "us", "united kingdom": "gb", "great britain": "gb"}
REGIONS = frozenset({"us", "eu", "gb", "ru", "tr", "global", "de", "fr", "br", "in", "kz", "ua"})
#: Region codes that are also ordinary words in a name ("in"): counted only as a product's region.
AMBIGUOUS_REGION_WORDS = frozenset({"in"})

_NUMBER_WITH_SEPARATORS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_DIGIT_LETTER = re.compile(r"(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)")
_NOT_WORD = re.compile(r"[^a-z0-9.]+")


def _number(token: str) -> str:
    try:
        value = Decimal(token)
    except InvalidOperation:
        return token.strip(".")
    return format(value.normalize(), "f") if value == value.to_integral() else str(value)


def normalise(text: str) -> list[str]:
    """The words of a name, normalised (see the module docstring)."""
    text = text.lower()
    for sign, code in CURRENCY_SIGNS.items():
        text = text.replace(sign, code)
    text = _NUMBER_WITH_SEPARATORS.sub("", text)
    for phrase, code in PHRASE_ALIASES.items():
        text = text.replace(phrase, f" {code} ")
    text = _DIGIT_LETTER.sub(" ", text)
    words = []
    for raw in _NOT_WORD.split(text):
        word = raw.strip(".")
        if not word:
            continue
        word = _number(word) if word[0].isdigit() else word
        words.append(WORD_ALIASES.get(word, word))
    return words


def region_code(region: str) -> str:
    """A product's region as one code; blank is global."""
    words = normalise(region)
    return " ".join(words) if words else "global"


@dataclass(frozen=True)
class Match:
    score: int
    note: str


def match_offer(*, name: str, denomination: str, region: str, offer_text: str) -> Match | None:
    """How well an offer's text (its product and offer names) matches a product, or None."""
    offer_words = set(normalise(offer_text))
    wanted = normalise(name) + normalise(denomination)
    if not wanted or not set(wanted) <= offer_words:
        return None
    product_region = region_code(region)
    named = (offer_words & REGIONS) - AMBIGUOUS_REGION_WORDS - set(wanted)
    if product_region in offer_words or product_region in named:
        return Match(score=3, note=f"Names the region ({product_region.upper()}).")
    if named:
        return None  # another region's card or top-up
    if product_region == "global":
        return Match(score=2, note="Names no region.")
    return Match(score=1, note=f"Names no region; check it is {product_region.upper()}.")
