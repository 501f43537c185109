"""Text normalisation shared by rule terms and item text, so both sides agree on what a word is.

Lower case, Unicode NFKC, curly quotes and dashes folded, possessive ``'s`` dropped, dotted
acronyms joined (``U.S.`` -> ``us``), every other punctuation mark (apostrophes and hyphens
too) a word break. The canonical form of a text is its words joined by single spaces.
"""

from __future__ import annotations

import itertools
import re
import unicodedata

__all__ = [
    "MAX_FORMS",
    "canonical",
    "expand_phrase",
    "fold",
    "inflections",
    "token_offsets",
]

MAX_FORMS = 256

_FOLD = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u02bc": "'",
        "`": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u00a0": " ",
    }
)
# Every step below keeps the text's length, so an offset into the folded text is an offset
# into the (NFKC) text a trader reads: spans need no mapping table.
_POSSESSIVE = re.compile(r"'s\b")
_ACRONYM_HINT = re.compile(r"\.[a-z](?![a-z0-9])")
_ACRONYM = re.compile(r"\b[a-z](?:\.[a-z])+\b\.?")
_NON_WORD = re.compile(r"[\W_]")
# ASCII after lower-casing: letters and digits stay, everything else is a word break.
_ASCII_BREAKS = bytes(c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256))


def _squeeze(found: re.Match[str]) -> str:
    letters = found.group().replace(".", "")
    return letters + " " * (len(found.group()) - len(letters))


def _fold_lowered(lowered: str) -> str:
    if "'" in lowered:
        lowered = _POSSESSIVE.sub("  ", lowered)
    if "." in lowered and _ACRONYM_HINT.search(lowered):
        lowered = _ACRONYM.sub(_squeeze, lowered)  # U.S. -> "us  "
    if lowered.isascii():
        return lowered.encode("ascii").translate(_ASCII_BREAKS).decode("ascii")
    return _NON_WORD.sub(" ", lowered)


def fold(text: str) -> tuple[str, str]:
    """``(display, folded)``: the NFKC text and its folded form (words and spaces), same length."""
    if text.isascii():
        return text, _fold_lowered(text.lower())
    display = unicodedata.normalize("NFKC", text)
    folded = display.translate(_FOLD)
    lowered = folded.lower()
    if len(lowered) != len(folded):
        # A few letters (Turkish dotted I) lower-case to two characters; keep those as they are.
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in folded)
    return display, _fold_lowered(lowered)


def canonical(text: str) -> str:
    """The canonical form of ``text``: normalised words separated by single spaces."""
    return " ".join(fold(text)[1].split())


def token_offsets(folded: str) -> list[tuple[int, int]]:
    """Start and end offset of each word of a folded text, in canonical word order."""
    return [m.span() for m in _WORD.finditer(folded)]


_WORD = re.compile(r"\S+")
_VOWELS = frozenset("aeiou")


def inflections(word: str) -> frozenset[str]:
    """Regular English forms of ``word`` (a superset: a form no text contains costs nothing)."""
    forms = {word, word + "s", word + "es", word + "ed", word + "ing"}
    if word.endswith("e"):
        forms |= {word + "d", word[:-1] + "ing"}
    if len(word) > 2 and word.endswith("y") and word[-2] not in _VOWELS:
        forms |= {word[:-1] + "ies", word[:-1] + "ied"}
    if (
        len(word) >= 3
        and word[-1] not in _VOWELS | set("wxy")
        and word[-2] in _VOWELS
        and word[-3] not in _VOWELS
        and word[-1].isalpha()
    ):
        forms |= {word + word[-1] + "ed", word + word[-1] + "ing"}
    return frozenset(forms)


def expand_phrase(phrase: str) -> tuple[str, ...]:
    """The canonical forms of a rule phrase; a word ending in ``~`` stands for its inflections.

    Returns an empty tuple if the phrase has no words. Raises ``ValueError`` when the inflected
    forms would exceed :data:`MAX_FORMS`.
    """
    choices: list[list[str]] = []
    for raw in phrase.split():
        inflect = raw.endswith("~")
        words = canonical(raw.rstrip("~")).split()
        if not words:
            continue
        head = " ".join(words[:-1])
        lasts = sorted(inflections(words[-1])) if inflect else [words[-1]]
        choices.append([f"{head} {last}" if head else last for last in lasts])
    total = 1
    for options in choices:
        total *= len(options)
    if total > MAX_FORMS:
        raise ValueError(f"phrase {phrase!r} expands to {total} forms (at most {MAX_FORMS})")
    if not choices:
        return ()
    return tuple(" ".join(combo) for combo in itertools.product(*choices))
