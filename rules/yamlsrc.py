"""Strict YAML for files that traders edit.

Duplicate keys, unknown tags and merge keys are errors, and every mapping and list remembers
where each of its keys and values came from, so a later check can say ``file:line:col: what``.
Pure: text in, values out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.reader import ReaderError

from rules.suggest import did_you_mean

__all__ = [
    "LocatedList",
    "LocatedMap",
    "Mark",
    "Problem",
    "YamlError",
    "check_keys",
    "decode_yaml",
    "parse_yaml",
    "parse_yaml_partial",
]

# Aliases let a 1 KB file expand to gigabytes ("billion laughs"); no config needs this many nodes.
MAX_NODES = 200_000
# PyYAML composes recursively: a file of 10,000 "[" would end in RecursionError. Real rules
# nest a dozen levels at most.
MAX_DEPTH = 100


@dataclass(frozen=True, slots=True)
class Mark:
    """A place in a file, 1-based as editors show it."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Problem:
    mark: Mark
    message: str

    def __str__(self) -> str:
        return f"{self.mark}: {self.message}"


class YamlError(ValueError):
    """Every problem found in one load, each with its place."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.mark.file, p.mark.line, p.mark.col))
        super().__init__("\n".join(str(p) for p in self.problems))


class LocatedMap(dict[str, Any]):
    """A mapping that knows where it, its keys and its values are."""

    mark: Mark
    key_marks: dict[str, Mark]
    value_marks: dict[str, Mark]

    def mark_of(self, key: str) -> Mark:
        return self.value_marks.get(key, self.mark)


class LocatedList(list[Any]):
    mark: Mark
    item_marks: list[Mark]

    def mark_of(self, index: int) -> Mark:
        return self.item_marks[index] if 0 <= index < len(self.item_marks) else self.mark


_PLAIN_TAGS = frozenset({"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"})


def _mark(file: str, node: yaml.Node) -> Mark:
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.nodes = 0
        self._scalars = yaml.SafeLoader("")

    def build(self, node: yaml.Node, depth: int = 1) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise YamlError([Problem(_mark(self.file, node), "document too large (alias bomb?)")])
        if depth > MAX_DEPTH:
            raise YamlError([Problem(_mark(self.file, node), _TOO_DEEP)])
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
            self.problems.append(Problem(_mark(self.file, node), f"unsupported tag {node.tag}"))
            return None
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, depth)
        if isinstance(node, yaml.SequenceNode):
            out = LocatedList(self.build(child, depth + 1) for child in node.value)
            out.mark = _mark(self.file, node)
            out.item_marks = [_mark(self.file, child) for child in node.value]
            return out
        try:
            return self._scalars.construct_object(node)
        except yaml.YAMLError as exc:
            self.problems.append(Problem(_mark(self.file, node), _short(exc)))
            return None

    def _mapping(self, node: yaml.MappingNode, depth: int) -> LocatedMap:
        out = LocatedMap()
        out.mark = _mark(self.file, node)
        out.key_marks, out.value_marks = {}, {}
        for key_node, value_node in node.value:
            where = _mark(self.file, key_node)
            if key_node.tag == "tag:yaml.org,2002:merge":
                self.problems.append(Problem(where, "merge keys (<<) are not supported"))
                continue
            key = self.build(key_node, depth + 1)
            if not isinstance(key, str):
                self.problems.append(Problem(where, f"key {key!r} must be a string"))
                continue
            if key in out:
                first = out.key_marks[key]
                self.problems.append(
                    Problem(where, f"duplicate key {key!r} (first at line {first.line})")
                )
                continue
            out[key] = self.build(value_node, depth + 1)
            out.key_marks[key] = where
            out.value_marks[key] = _mark(self.file, value_node)
        return out


_TOO_DEEP = f"nested more than {MAX_DEPTH} levels deep"


def _short(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None)
    return str(problem or exc).strip()


def _place(text: str, index: int, file: str) -> Mark:
    """The mark of a character offset into ``text``."""
    line_start = text.rfind("\n", 0, index) + 1
    return Mark(file, text.count("\n", 0, index) + 1, index - line_start + 1)


def _too_deep(text: str, file: str) -> Mark:
    """Where nesting first goes past MAX_DEPTH: the event parser keeps an explicit stack."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                mark = event.start_mark
                if depth > MAX_DEPTH and mark is not None:
                    return Mark(file, mark.line + 1, mark.column + 1)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError:
        pass
    return Mark(file, 1, 1)


def _compose(text: str) -> yaml.Node | None:
    """The document's node graph: by libyaml when it is there (a 5,000-feed file in a tenth of
    the time), by PyYAML's own parser otherwise.

    libyaml is used only on a document it reads without error and no deeper than MAX_DEPTH
    (its composer recurses in C, where no RecursionError would stop a hostile nesting); any
    other document goes to PyYAML, so problems are reported exactly as before.
    """
    if getattr(yaml, "__with_libyaml__", False):
        try:
            depth = deepest = 0
            for event in yaml.parse(text, Loader=yaml.CSafeLoader):
                if isinstance(event, yaml.CollectionStartEvent):
                    depth += 1
                    deepest = max(deepest, depth)
                elif isinstance(event, yaml.CollectionEndEvent):
                    depth -= 1
            if deepest <= MAX_DEPTH:
                node: yaml.Node | None = yaml.compose(text, Loader=yaml.CSafeLoader)
                return node
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def decode_yaml(data: bytes, file: str = "<bytes>") -> str:
    """A rules file's bytes as text; :class:`YamlError` at the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8")
        byte = data[exc.start : exc.start + 1].hex()
        message = f"not UTF-8 text (byte 0x{byte}): is this a rules file?"
        raise YamlError([Problem(_place(good, len(good), file), message)]) from None


def parse_yaml(text: str, file: str = "<string>") -> Any:
    """Parse one YAML document strictly; raise :class:`YamlError` listing every problem."""
    value, problems = parse_yaml_partial(text, file)
    if problems:
        raise YamlError(problems)
    return value


def parse_yaml_partial(text: str, file: str = "<string>") -> tuple[Any, list[Problem]]:
    """Like :func:`parse_yaml`, but what could be built is returned with the problems in it.

    A caller checks the rest of the document and reports everything at once; a node that
    had a problem (duplicate key, unsupported tag) is left out or None. Syntax errors and
    alias bombs, which leave nothing to check, still raise :class:`YamlError`.
    """
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(file, mark.line + 1, mark.column + 1) if mark else Mark(file, 1, 1)
        raise YamlError([Problem(where, _short(exc))]) from None
    except ReaderError as exc:
        # A control character (NUL, ...): PyYAML gives only an offset and a multi-line text.
        what = f"character #x{exc.character:04x} is not allowed in YAML (is this a rules file?)"
        raise YamlError([Problem(_place(text, exc.position, file), what)]) from None
    except yaml.YAMLError as exc:
        raise YamlError([Problem(Mark(file, 1, 1), _short(exc))]) from None
    except RecursionError:
        raise YamlError([Problem(_too_deep(text, file), _TOO_DEEP)]) from None
    if root is None:
        return None, []
    builder = _Builder(file)
    value = builder.build(root)
    return value, builder.problems


def check_keys(
    node: LocatedMap,
    *,
    required: Iterable[str],
    optional: Iterable[str] = (),
    what: str,
) -> list[Problem]:
    """Unknown and missing keys of one mapping, as problems."""
    required = tuple(required)
    allowed = set(required) | set(optional)
    problems = [
        Problem(node.key_marks[key], f"unknown key {key!r} in {what}" + did_you_mean(key, allowed))
        for key in node
        if key not in allowed
    ]
    problems += [
        Problem(node.mark, f"{what} is missing required key {key!r}")
        for key in required
        if key not in node
    ]
    return problems
