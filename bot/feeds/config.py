"""The feeds file: strict YAML, every problem reported with its place."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from rules.yamlsrc import (
    LocatedList,
    LocatedMap,
    Mark,
    Problem,
    YamlError,
    check_keys,
    parse_yaml_partial,
)
from storage.records import FeedDef

__all__ = [
    "DEFAULT_INTERVAL",
    "MIN_INTERVAL",
    "TIERS",
    "load_feeds",
    "parse_duration",
    "parse_feeds",
]

TIERS = ("official", "wire", "press", "blog")
DEFAULT_INTERVAL = 300
MIN_INTERVAL = 60
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h)?\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, None: 1}


@dataclass(frozen=True, slots=True)
class _Rules:
    """What a feed is checked against besides its own file."""

    min_interval: int
    legs: Collection[str] | None


def parse_duration(value: object) -> int:
    """'90s', '5m', '1h' or an integer number of seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 5m")
    if isinstance(value, int):
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration: use 90s, 5m, 1h or seconds")
    return int(match.group(1)) * _UNITS[match.group(2)]


def _feed(
    node: object, where: Mark, base: Path, problems: list[Problem], rules: _Rules
) -> FeedDef | None:
    if not isinstance(node, LocatedMap):
        problems.append(Problem(where, "each feed must be a mapping with name, url and tier"))
        return None
    errors = check_keys(
        node,
        required=("name", "url", "tier"),
        optional=("interval", "min_interval", "max_interval", "topics"),
        what="feed",
    )
    name, tier = node.get("name"), node.get("tier")
    if "name" in node and not (isinstance(name, str) and _NAME.match(name)):
        errors.append(
            Problem(node.mark_of("name"), "name must be a lowercase slug (a-z, 0-9, . _ -)")
        )
    url = _url(node, base, errors)
    if "tier" in node and tier not in TIERS:
        errors.append(Problem(node.mark_of("tier"), f"tier must be one of {', '.join(TIERS)}"))
    interval = _interval(node, rules.min_interval, errors)
    low, high = _bounds(node, interval, rules.min_interval, errors)
    topics = _topics(node, rules.legs, errors)
    problems.extend(errors)
    if errors:
        return None
    assert isinstance(name, str)
    assert isinstance(url, str)
    assert isinstance(tier, str)
    return FeedDef(
        name=name,
        url=url,
        tier=tier,
        interval_s=interval,
        topics=topics,
        min_interval_s=low,
        max_interval_s=high,
    )


def _bounds(node: LocatedMap, interval: int, floor: int, errors: list[Problem]) -> tuple[int, int]:
    """The adaptive interval's bounds: by default half to twice ``interval``."""
    low, high = max(floor, interval // 2), interval * 2
    for key in ("min_interval", "max_interval"):
        if key not in node:
            continue
        try:
            value = parse_duration(node[key])
            if value < floor:
                raise ValueError(f"{key} must be at least {_shown(floor)}")
            if key == "min_interval" and value > interval:
                raise ValueError(f"min_interval must not exceed interval ({_shown(interval)})")
            if key == "max_interval" and value < interval:
                raise ValueError(f"max_interval must not be below interval ({_shown(interval)})")
        except ValueError as exc:
            errors.append(Problem(node.mark_of(key), str(exc)))
            continue
        if key == "min_interval":
            low = value
        else:
            high = value
    return low, high


def _shown(seconds: int) -> str:
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"


def _url(node: LocatedMap, base: Path, errors: list[Problem]) -> str | None:
    if "url" not in node:
        return None
    url = node["url"]
    if not isinstance(url, str) or not url.strip():
        errors.append(Problem(node.mark_of("url"), "url must be an http(s) URL or a path"))
        return None
    resolved = _resolve(url.strip(), base)
    if resolved is None:
        errors.append(
            Problem(node.mark_of("url"), "url scheme must be http, https or a local path")
        )
    return resolved


def _interval(node: LocatedMap, min_interval: int, errors: list[Problem]) -> int:
    if "interval" not in node:
        return DEFAULT_INTERVAL
    try:
        interval = parse_duration(node["interval"])
        if interval < min_interval:
            raise ValueError(f"interval must be at least {_shown(min_interval)}")
    except ValueError as exc:
        errors.append(Problem(node.mark_of("interval"), str(exc)))
        return DEFAULT_INTERVAL
    return interval


def _topics(
    node: LocatedMap, legs: Collection[str] | None, errors: list[Problem]
) -> tuple[str, ...]:
    topics = node.get("topics", [])
    if not isinstance(topics, LocatedList) or not all(isinstance(t, str) for t in topics):
        if "topics" in node:
            errors.append(Problem(node.mark_of("topics"), "topics must be a list of names"))
        return ()
    if legs is not None:
        known = ", ".join(sorted(legs)) or "none"
        errors.extend(
            Problem(topics.mark_of(i), f"unknown topic {topic!r}: the thesis legs are {known}")
            for i, topic in enumerate(topics)
            if topic not in legs
        )
    return tuple(topics)


def _resolve(url: str, base: Path) -> str | None:
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        return url
    if scheme == "file":
        return url.removeprefix("file://")
    if scheme and len(scheme) > 1:  # a one-letter "scheme" is a Windows drive
        return None
    path = Path(url).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def parse_feeds(
    text: str,
    file: str,
    base: Path,
    *,
    min_interval: int = MIN_INTERVAL,
    legs: Collection[str] | None = None,
) -> list[FeedDef]:
    """Feeds from the YAML ``text``; raises :class:`YamlError` with every problem found.

    ``legs``, the thesis legs of the loaded rule set, makes a ``topics`` entry naming any
    other leg an error; None skips that check (no rule set at hand).
    """
    doc, structural = parse_yaml_partial(text, file)
    feeds, problems = _check_doc(doc, file, base, _Rules(min_interval, legs))
    # A node the YAML layer already faulted (duplicate key, unsupported tag) is reported once.
    faulted = {p.mark for p in structural}
    problems = structural + [p for p in problems if p.mark not in faulted]
    if problems:
        raise YamlError(problems)
    return feeds


def _check_doc(
    doc: object, file: str, base: Path, rules: _Rules
) -> tuple[list[FeedDef], list[Problem]]:
    if not isinstance(doc, LocatedMap):
        where = doc.mark if isinstance(doc, LocatedList) else Mark(file, 1, 1)
        return [], [Problem(where, "expected a mapping with a 'feeds' list")]
    problems = check_keys(doc, required=("feeds",), what="the feeds file")
    items = doc.get("feeds")
    if "feeds" in doc and not isinstance(items, LocatedList):
        problems.append(Problem(doc.mark_of("feeds"), "feeds must be a list"))
    feeds: list[FeedDef] = []
    if not isinstance(items, LocatedList):
        return feeds, problems
    seen: dict[str, Mark] = {}
    for index, node in enumerate(items):
        name = node.get("name") if isinstance(node, LocatedMap) else None
        if isinstance(name, str) and isinstance(node, LocatedMap):
            if name in seen:
                first = seen[name].line
                problems.append(
                    Problem(
                        node.mark_of("name"),
                        f"duplicate feed name {name!r} (first at line {first})",
                    )
                )
            else:
                seen[name] = node.mark_of("name")
        # Checked even when its name is a duplicate: every problem at once.
        feed = _feed(node, items.mark_of(index), base, problems, rules)
        if feed is not None:
            feeds.append(feed)
    return feeds, problems


def load_feeds(
    path: Path, *, min_interval: int = MIN_INTERVAL, legs: Collection[str] | None = None
) -> list[FeedDef]:
    """Read and parse a feeds file; local feed paths are relative to the file's folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlError([Problem(Mark(str(path), 1, 1), f"cannot read: {exc}")]) from None
    return parse_feeds(text, str(path), path.parent, min_interval=min_interval, legs=legs)
