"""'Did you mean': the known names closest to a misspelt one, for rules error messages."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["did_you_mean"]


def did_you_mean(word: object, known: Iterable[str]) -> str:
    """``"; did you mean 'breaks'?"`` naming up to two of ``known`` close to ``word``, or ``""``.

    A ``$name`` (a vocabulary reference) is matched by its name and suggested as ``$name``.
    """
    if not isinstance(word, str) or not word:
        return ""
    prefix = "$" if word.startswith("$") else ""
    bare = word.removeprefix(prefix)
    names = sorted(set(known))
    close = difflib.get_close_matches(bare, names, n=2, cutoff=0.6)
    if not close:  # case slips ('Breaks') are not close by ratio when the word is short
        close = [n for n in names if n.lower() == bare.lower()][:2]
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(f"{prefix}{c}") for c in close) + "?"
