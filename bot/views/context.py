"""Context for a headline: the summary's lead sentence, and matched words in their sentence.

Pure text functions. Callers escape what they get: a feed's text is untrusted, and it is cut
here before it is escaped so a cut never splits an entity.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rules.text import canonical

__all__ = ["LEAD_CAP", "SENTENCE_CAP", "Sentence", "cap_text", "lead_sentence", "sentences"]

LEAD_CAP = 240  # about two lines on a phone: a glance, not the article
SENTENCE_CAP = 300

# A sentence ends at . ! or ? followed by a space and a capital or a quote, or at the end of
# the text; "U.S. Commerce", "No. 61", "Mr. Xi" and "Nov. 10" do not end one. The rules find
# a summary's lead the same way (rules/engine.py), so the lead shown is the lead they read.
_SENTENCE_END = re.compile(
    r"[.!?](?<!\b[A-Z].)(?<!\b[A-Z][a-z].)(?<!\b[A-Z][a-z]{2}.)(?=\s+[\"'A-Z]|\s*$)"
)


def cap_text(text: str, cap: int) -> str:
    """``text`` cut to at most ``cap`` characters at a word boundary, with "…" when cut."""
    text = " ".join(text.split())
    if len(text) <= cap:
        return text
    cut = text.rfind(" ", 0, cap)
    return text[: cut if cut > cap // 2 else cap - 1].rstrip(" ,;:") + "…"


def lead_sentence(summary: str, title: str = "", cap: int = LEAD_CAP) -> str:
    """The summary's first sentence, capped; "" when there is none or it only repeats the title.

    Aggregators' summaries are often the headline again with the outlet's name ("China Urges
    Firms to Avoid Nvidia H20 Chips Bloomberg"): no context, so nothing is shown.
    """
    text = " ".join(summary.split())
    if not text:
        return ""
    end = _SENTENCE_END.search(text)
    lead = text[: end.end()] if end else text
    said, heading = canonical(lead).split(), set(canonical(title).split())
    if heading and sum(w in heading for w in said) >= 0.8 * len(said):
        return ""
    return cap_text(lead, cap)


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence cut into pieces, each matched by the rule (True) or not (False)."""

    pieces: tuple[tuple[str, bool], ...]

    def text(self, mark: tuple[str, str] = ("«", "»")) -> str:
        """Plain text with the matched words between ``mark``."""
        return "".join(f"{mark[0]}{p}{mark[1]}" if hit else p for p, hit in self.pieces)


def _bounds(text: str) -> list[tuple[int, int]]:
    bounds, start = [], 0
    for end in _SENTENCE_END.finditer(text):
        bounds.append((start, end.end()))
        start = end.end()
    if start < len(text):
        bounds.append((start, len(text)))
    return bounds


def sentences(
    text: str, spans: Sequence[tuple[int, int]], cap: int = SENTENCE_CAP
) -> list[Sentence]:
    """Each sentence of ``text`` that holds a span, with the spans marked, capped around them.

    Offsets are into the text as the rules read it (Unicode NFKC); spans out of range (a text
    changed since) are left out.
    """
    display = text if text.isascii() else unicodedata.normalize("NFKC", text)
    good = sorted({(a, b) for a, b in spans if 0 <= a < b <= len(display)})
    out = []
    for lo, hi in _bounds(display):
        inside = [(max(a, lo), min(b, hi)) for a, b in good if a < hi and b > lo]
        if not inside:
            continue
        # Too long: a window from a little before the first match to the cap.
        if hi - lo > cap:
            start = max(lo, inside[0][0] - cap // 4)
            end = min(hi, max(start + cap, inside[-1][1]))
            inside = [(a, b) for a, b in inside if b <= end]
        else:
            start, end = lo, hi
        pieces: list[tuple[str, bool]] = [("…", False)] if start > lo else []
        at = start
        for a, b in inside:
            if a < at:  # overlapping spans: the part not yet marked
                a = at
            if a >= b:
                continue
            pieces += [(display[at:a], False), (display[a:b], True)]
            at = b
        pieces.append((display[at:end], False))
        if end < hi:
            pieces.append(("…", False))
        cleaned = [(p, hit) for p, hit in pieces if p]
        first, hit = cleaned[0]
        cleaned[0] = (first.lstrip(), hit)
        last, hit = cleaned[-1]
        cleaned[-1] = (last.rstrip(), hit)
        out.append(Sentence(tuple(cleaned)))
    return out
