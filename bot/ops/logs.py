"""Logging set-up: secrets redacted, chatty libraries kept quiet; JSON lines off a terminal."""

from __future__ import annotations

import json as _json
import logging
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = ["JsonFormatter", "RedactingFilter", "setup_logging"]

# Bot API tokens look like 123456789:AAE...; httpx logs request URLs that embed them.
_TOKEN = re.compile(r"\d{6,12}:[A-Za-z0-9_-]{30,}")
_FORMATTER = logging.Formatter()
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_NOISY = ("httpx", "httpcore", "apscheduler.executors.default", "aiohttp.access")
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
) -> None:
    """Root logging to ``stream`` (stderr): plain text on a terminal, JSON lines elsewhere.

    ``json`` forces one or the other. ``secrets`` (and anything shaped like a Bot API token)
    are replaced with ``[redacted]`` in every line, tracebacks included.
    """
    target = stream if stream is not None else sys.stderr
    redactor = RedactingFilter(secrets)
    handler = logging.StreamHandler(target)
    use_json = not _is_terminal(target) if json is None else json
    handler.setFormatter(JsonFormatter(redactor) if use_json else logging.Formatter(_TEXT_FORMAT))
    handler.addFilter(redactor)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
