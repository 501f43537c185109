"""A small thesis and rule set, written inline, for pipeline and bot tests."""

from __future__ import annotations

from pathlib import Path

THESIS = """\
thesis:
  name: test
  legs:
    h20-ban:
      claim: China blocks the H20.
      tickers: {NVDA: bullish, AMD: bullish}
confirmation:
  official: 1
  publishers: 2
  window: 72h
  half_life: 48h
  challenge_at: 1.0
  restore_ratio: 1.5
  leg_cooldown: 6h
"""

RULES = """\
rules:
  - id: h20-ban-lifted
    leg: h20-ban
    effect: breaks
    severity: high
    match: {all: [H20, [lift~, end~]]}
    veto: [{any: [not, denies], near: 3}]
    examples:
      match: [China lifts H20 ban]
      no_match: [China has not lifted the H20 ban]
  - id: h20-sales-resume
    leg: h20-ban
    effect: reverses
    severity: critical
    match: {all: [H20, [resume~]]}
  - id: h20-ban-held
    leg: h20-ban
    effect: confirms
    severity: medium
    match: {all: [H20, [ban~, avoid]]}
    veto: [{any: [lift~, end~, resume~]}]
"""


def make_rules_dir(parent: Path) -> Path:
    folder = parent / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "thesis.yaml").write_text(THESIS)
    (folder / "rules.yaml").write_text(RULES)
    return folder


# A second thesis for several-theses tests: the H20 headlines that break "test" move it too.
SECOND_THESIS = """\
thesis:
  name: second
  legs:
    hbm-demand:
      claim: Chinese AI-chip demand for high-bandwidth memory stays shut out.
      tickers: {MU: bullish, NVDA: bullish}
confirmation:
  official: 1
  publishers: 2
  window: 72h
  leg_cooldown: 6h
"""

SECOND_RULES = """\
rules:
  - id: h20-lift-hbm
    leg: hbm-demand
    effect: breaks
    severity: high
    match: {all: [H20, [lift~, end~]]}
    veto: [{any: [not, denies], near: 3}]
    examples:
      match: [China lifts H20 ban]
"""


def make_theses_dir(parent: Path) -> Path:
    """A shelf of two thesis folders: ``test`` (as :func:`make_rules_dir`) and ``second``."""
    shelf = parent / "theses"
    shelf.mkdir()
    make_rules_dir(shelf)
    (shelf / "rules").rename(shelf / "test")
    second = shelf / "second"
    second.mkdir()
    (second / "thesis.yaml").write_text(SECOND_THESIS)
    (second / "rules.yaml").write_text(SECOND_RULES)
    return shelf
