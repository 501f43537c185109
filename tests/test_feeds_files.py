"""Good and bad feeds files (tests/data/feeds): every problem at once, as file:line:col.

Each bad file lists what it must produce in ``# expect: LINE:COL: message`` lines; each good
file names its feeds in ``# expect feeds: a, b``. Topics are checked against the legs of the
shipped rule set, as `thesiswatch run` does.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.cli.demo import DEMO_FEEDS
from bot.cli.main import main
from bot.feeds.config import load_feeds
from bot.pipeline.rulebook import read_rule_files
from bot.settings import DEFAULT_FEEDS, DEFAULT_RULES
from rules import load_ruleset
from rules.yamlsrc import YamlError
from tests.helpers.feedserver import FeedServer, rss

DATA = Path(__file__).parent / "data" / "feeds"
LEGS = frozenset(leg.id for leg in load_ruleset(read_rule_files(DEFAULT_RULES)).thesis.legs)
_EXPECT = re.compile(r"^# expect: (.*)$", re.MULTILINE)
_EXPECT_FEEDS = re.compile(r"^# expect feeds:(.*)$", re.MULTILINE)


def _files(kind: str) -> list[Path]:
    return sorted((DATA / kind).glob("*.yaml"))


def test_there_are_test_files() -> None:
    assert len(_files("bad")) >= 7
    assert len(_files("good")) >= 2


@pytest.mark.parametrize("path", _files("bad"), ids=lambda p: p.stem)
def test_a_bad_file_reports_every_problem_with_its_place(path: Path) -> None:
    expected = [f"{path}:{line}" for line in _EXPECT.findall(path.read_text())]
    assert expected, f"{path} lists no '# expect:' line"

    with pytest.raises(YamlError) as info:
        load_feeds(path, legs=LEGS)

    assert [str(p) for p in info.value.problems] == expected


@pytest.mark.parametrize("path", _files("good"), ids=lambda p: p.stem)
def test_a_good_file_loads(path: Path) -> None:
    [names] = _EXPECT_FEEDS.findall(path.read_text())
    feeds = load_feeds(path, legs=LEGS)
    assert [f.name for f in feeds] == [n.strip() for n in names.split(",") if n.strip()]


def test_topics_are_not_checked_without_a_rule_set() -> None:
    path = DATA / "bad" / "unknown-topics.yaml"
    with pytest.raises(YamlError) as info:
        load_feeds(path)
    assert [p.message for p in info.value.problems] == ["topics must be a list of names"]


@pytest.mark.parametrize("path", [DEFAULT_FEEDS, DEMO_FEEDS], ids=["shipped", "demo"])
def test_the_bundled_feeds_files_name_only_real_legs(path: Path) -> None:
    feeds = load_feeds(path, legs=LEGS)
    assert any(f.topics for f in feeds)


def test_run_refuses_a_feeds_file_whose_topic_is_no_leg(
    tmp_path: Path,
    feed_server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("THESISWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'tw.db'}")
    monkeypatch.setenv("THESISWATCH_OPS_PORT", "-1")
    url = feed_server.route("/ok.xml", rss(("China curbs rare earth exports", "https://x/re")))
    feeds = tmp_path / "feeds.yaml"
    feeds.write_text(
        f"feeds:\n  - name: ok\n    url: '{url}'\n    tier: wire\n    topics: [h20-bann]\n"
    )
    monkeypatch.setenv("THESISWATCH_FEEDS", str(feeds))

    assert main(["run", "--once"]) == 1

    err = capsys.readouterr().err
    assert f"{feeds}:5:14: unknown topic 'h20-bann': the thesis legs are h20-ban," in err
    assert feed_server.hits == []  # nothing polled on a refused file
