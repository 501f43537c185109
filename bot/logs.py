"""Logging set-up: one format, secrets redacted, chatty libraries kept quiet."""

from __future__ import annotations

import logging
import re

__all__ = ["RedactingFilter", "setup_logging"]

# Bot API tokens look like 123456789:AAE...; httpx logs request URLs that embed them.
_TOKEN = re.compile(r"\d{6,12}:[A-Za-z0-9_-]{30,}")
_FORMATTER = logging.Formatter()


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return _TOKEN.sub("[redacted]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._clean(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            # The formatter uses exc_text when set: a traceback can quote a URL with the token.
            record.exc_text = self._clean(_FORMATTER.formatException(record.exc_info))
        return True


def setup_logging(level: str = "INFO", secrets: tuple[str, ...] = ()) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler.executors.default"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
