"""The feeds file: strict YAML, every problem reported with its place."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

from rules.yamlsrc import LocatedList, LocatedMap, Mark, Problem, YamlError, check_keys, parse_yaml
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
    node: object, where: Mark, base: Path, problems: list[Problem], min_interval: int
) -> FeedDef | None:
    if not isinstance(node, LocatedMap):
        problems.append(Problem(where, "each feed must be a mapping with name, url and tier"))
        return None
    errors = check_keys(
        node, required=("name", "url", "tier"), optional=("interval", "topics"), what="feed"
    )
    name, url, tier = node.get("name"), node.get("url"), node.get("tier")
    if "name" in node and not (isinstance(name, str) and _NAME.match(name)):
        errors.append(
            Problem(node.mark_of("name"), "name must be a lowercase slug (a-z, 0-9, . _ -)")
        )
    if "url" in node:
        if not isinstance(url, str) or not url.strip():
            errors.append(Problem(node.mark_of("url"), "url must be an http(s) URL or a path"))
        else:
            url = _resolve(url.strip(), base)
            if url is None:
                errors.append(
                    Problem(node.mark_of("url"), "url scheme must be http, https or a local path")
                )
    if "tier" in node and tier not in TIERS:
        errors.append(Problem(node.mark_of("tier"), f"tier must be one of {', '.join(TIERS)}"))
    interval = DEFAULT_INTERVAL
    if "interval" in node:
        try:
            interval = parse_duration(node["interval"])
            if interval < min_interval:
                shown = f"{min_interval // 60}m" if min_interval % 60 == 0 else f"{min_interval}s"
                raise ValueError(f"interval must be at least {shown}")
        except ValueError as exc:
            errors.append(Problem(node.mark_of("interval"), str(exc)))
    topics = node.get("topics", [])
    if not isinstance(topics, list) or not all(isinstance(t, str) for t in topics):
        errors.append(Problem(node.mark_of("topics"), "topics must be a list of names"))
        topics = []
    problems.extend(errors)
    if errors:
        return None
    assert isinstance(name, str)
    assert isinstance(url, str)
    assert isinstance(tier, str)
    return FeedDef(name=name, url=url, tier=tier, interval_s=interval, topics=tuple(topics))


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
    text: str, file: str, base: Path, *, min_interval: int = MIN_INTERVAL
) -> list[FeedDef]:
    """Feeds from the YAML ``text``; raises :class:`YamlError` with every problem found."""
    doc = parse_yaml(text, file)
    top = Mark(file, 1, 1)
    if not isinstance(doc, LocatedMap):
        raise YamlError([Problem(top, "expected a mapping with a 'feeds' list")])
    problems = check_keys(doc, required=("feeds",), what="the feeds file")
    items = doc.get("feeds")
    if "feeds" in doc and not isinstance(items, LocatedList):
        problems.append(Problem(doc.mark_of("feeds"), "feeds must be a list"))
    feeds: list[FeedDef] = []
    seen: dict[str, Mark] = {}
    if isinstance(items, LocatedList):
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
                    continue
                seen[name] = node.mark_of("name")
            feed = _feed(node, items.mark_of(index), base, problems, min_interval)
            if feed is not None:
                feeds.append(feed)
    if problems:
        raise YamlError(problems)
    return feeds


def load_feeds(path: Path, *, min_interval: int = MIN_INTERVAL) -> list[FeedDef]:
    """Read and parse a feeds file; local feed paths are relative to the file's folder."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlError([Problem(Mark(str(path), 1, 1), f"cannot read: {exc}")]) from None
    return parse_feeds(text, str(path), path.parent, min_interval=min_interval)
