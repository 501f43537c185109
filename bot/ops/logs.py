"""Logging set-up: secrets redacted, libraries kept to warnings; JSON lines off a terminal.

A minute of ``run`` once logged 43 lines, 31 of them alembic's and APScheduler's internals
("Context impl SQLiteImpl", "Added job ..."). Our own loggers (``bot``, ``rules``,
``storage``) log at the level asked for; every other logger at ``library_level`` (WARNING
unless asked), so a line on the console is about thesiswatch.
"""

from __future__ import annotations

import json as _json
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["APP_LOGGERS", "JsonFormatter", "LibraryFilter", "RedactingFilter", "setup_logging"]

# Bot API tokens look like 123456789:AAE...; httpx logs request URLs that embed them.
_TOKEN = re.compile(r"\d{6,12}:[A-Za-z0-9_-]{30,}")
_FORMATTER = logging.Formatter()
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_NOISY = ("httpx", "httpcore", "apscheduler.executors.default", "aiohttp.access")
# Loggers whose records are ours; everything else is a library.
APP_LOGGERS = ("bot", "rules", "storage", "thesiswatch", "__main__")
# Attributes every LogRecord has; anything else came from ``extra=`` and is logged as a field.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class RedactingFilter(logging.Filter):
    """Rewrites each record in place before any formatter sees it: message, traceback, stack."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return _TOKEN.sub("[redacted]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.clean(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            # The formatter uses exc_text when set: a traceback can quote a URL with the token.
            record.exc_text = self.clean(_FORMATTER.formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.clean(record.exc_text)
        if record.stack_info:
            record.stack_info = self.clean(record.stack_info)
        return True


class LibraryFilter(logging.Filter):
    """Our records pass at ``ours`` and above, a library's at ``theirs`` and above."""

    def __init__(self, ours: int, theirs: int) -> None:
        super().__init__()
        self.ours, self.theirs = ours, theirs

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        mine = any(name == app or name.startswith(app + ".") for app in APP_LOGGERS)
        return record.levelno >= (self.ours if mine else self.theirs)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, exc and ``extra`` fields.

    Redacts with ``redactor`` itself too: the handler's filter does not know ``extra`` fields,
    and a formatter used without the filter must not leak either.
    """

    def __init__(self, redactor: RedactingFilter | None = None) -> None:
        super().__init__()
        self._redactor = redactor or RedactingFilter()

    def format(self, record: logging.LogRecord) -> str:
        clean = self._redactor.clean
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": clean(record.getMessage()),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = clean(self.formatException(record.exc_info))
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = clean(record.stack_info)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in entry:
                entry[key] = _jsonable(value, clean)
        return _json.dumps(entry, ensure_ascii=False)


def _jsonable(value: object, clean: Callable[[str], str]) -> object:
    if value is None or isinstance(value, bool | int | float):
        return value
    return clean(value if isinstance(value, str) else repr(value))


def _level(name: str) -> int:
    return logging.getLevelNamesMapping()[name.upper()]


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def setup_logging(
    level: str = "INFO",
    secrets: tuple[str, ...] = (),
    *,
    json: bool | None = None,
    stream: TextIO | None = None,
    library_level: str = "WARNING",
) -> None:
    """Root logging to ``stream`` (stderr): plain text on a terminal, JSON lines elsewhere.

    ``level`` is for thesiswatch's own loggers, ``library_level`` for everyone else's.
    ``json`` forces one or the other. ``secrets`` (and anything shaped like a Bot API token)
    are replaced with ``[redacted]`` in every line, tracebacks included.
    """
    target = stream if stream is not None else sys.stderr
    redactor = RedactingFilter(secrets)
    handler = logging.StreamHandler(target)
    use_json = not _is_terminal(target) if json is None else json
    handler.setFormatter(JsonFormatter(redactor) if use_json else logging.Formatter(_TEXT_FORMAT))
    # The library filter first: a dropped record is not worth redacting.
    ours, theirs = _level(level), _level(library_level)
    handler.addFilter(LibraryFilter(ours, theirs))
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(min(ours, theirs))
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
