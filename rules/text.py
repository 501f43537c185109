"""Text normalisation shared by rule terms and item text, so both sides agree on what a word is.

Lower case, Unicode NFKC, curly quotes and dashes folded, possessive ``'s`` dropped, dotted
acronyms joined (``U.S.`` -> ``us``), every other punctuation mark a word break. The canonical
form of a text is its words joined by single spaces.
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
# The same length as what it replaces, so offsets into the folded text stay offsets into the text.
_POSSESSIVE = re.compile(r"'s\b")
# A dotted acronym (u.s., u.k.) or a run of letters and digits with inner apostrophes (don't).
_TOKEN = re.compile(r"[^\W\d_](?:\.[^\W\d_])+\.?(?![^\W_])|[^\W_]+(?:'[^\W_]+)*")


def fold(text: str) -> tuple[str, str]:
    """``(display, folded)``: the NFKC text and its folded form, of equal length."""
    if text.isascii():
        return text, _POSSESSIVE.sub("  ", text.replace("`", "'").lower())
    display = unicodedata.normalize("NFKC", text)
    folded = display.translate(_FOLD)
    lowered = folded.lower()
    if len(lowered) != len(folded):
        # A few letters (Turkish dotted I) lower-case to two characters; keep those as they are.
        lowered = "".join(c.lower() if len(c.lower()) == 1 else c for c in folded)
    return display, _POSSESSIVE.sub("  ", lowered)


def _join(words: list[str]) -> str:
    joined = " ".join(words)
    if "." in joined or "'" in joined:
        joined = joined.replace(".", "").replace("'", "")
    return joined


def canonical(text: str) -> str:
    """The canonical form of ``text``: normalised words separated by single spaces."""
    return _join(_TOKEN.findall(fold(text)[1]))


def token_offsets(folded: str) -> list[tuple[int, int]]:
    """Start and end offset of each word of a folded text, in canonical word order."""
    return [m.span() for m in _TOKEN.finditer(folded)]


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
