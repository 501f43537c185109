"""Log lines: JSON off a terminal, plain text on one, the bot token redacted either way."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime

import pytest

from bot.ops.logs import setup_logging

TOKEN = "1234567:AAEhBOweik6ad9r_QXMENQjcrGbqCr4K-ZZ"  # fake, 7-digit id
SECRET = 'pg-pass-"quoted"-s3cret'


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _log_everything() -> None:
    log = logging.getLogger("thesiswatch.test")
    log.info("GET https://api.telegram.org/bot%s/getMe", TOKEN)
    log.warning("db password %s", SECRET, extra={"feed": "gnews-h20", "url": f"/bot{TOKEN}/x"})
    try:
        raise RuntimeError(f"boom at https://api.telegram.org/bot{TOKEN}/sendMessage")
    except RuntimeError:
        log.exception("delivery failed")


def test_json_lines_parse_and_are_redacted() -> None:
    out = io.StringIO()
    setup_logging("DEBUG", (SECRET,), stream=out)  # a StringIO is no terminal: JSON
    _log_everything()
    text = out.getvalue()
    assert TOKEN not in text
    assert SECRET not in text
    assert json.dumps(SECRET)[1:-1] not in text  # nor its JSON-escaped form
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(e["level"], e["logger"]) for e in lines] == [
        ("INFO", "thesiswatch.test"),
        ("WARNING", "thesiswatch.test"),
        ("ERROR", "thesiswatch.test"),
    ]
    info, warning, error = lines
    assert info["message"] == "GET https://api.telegram.org/bot[redacted]/getMe"
    assert datetime.fromisoformat(info["time"]).utcoffset() is not None
    assert "exc" not in info
    assert warning["message"] == "db password [redacted]"
    assert warning["feed"] == "gnews-h20"
    assert warning["url"] == "/bot[redacted]/x"
    assert error["message"] == "delivery failed"
    assert error["exc"].startswith("Traceback (most recent call last):")
    assert (
        "RuntimeError: boom at https://api.telegram.org/bot[redacted]/sendMessage" in (error["exc"])
    )


def test_plain_text_on_a_terminal() -> None:
    out = Terminal()
    setup_logging("INFO", stream=out)
    _log_everything()
    text = out.getvalue()
    assert TOKEN not in text
    first = text.splitlines()[0]
    assert first.endswith(
        " INFO thesiswatch.test: GET https://api.telegram.org/bot[redacted]/getMe"
    )
    assert not first.startswith("{")
    assert "Traceback (most recent call last):" in text
    assert "bot[redacted]/sendMessage" in text


def test_json_can_be_forced_either_way() -> None:
    tty = Terminal()
    setup_logging("INFO", stream=tty, json=True)
    logging.getLogger("bot.x").info("hello")
    assert json.loads(tty.getvalue())["message"] == "hello"
    pipe = io.StringIO()
    setup_logging("INFO", stream=pipe, json=False)
    logging.getLogger("bot.x").info("hello")
    assert pipe.getvalue().rstrip().endswith("INFO bot.x: hello")


def test_stack_info_is_redacted() -> None:
    out = io.StringIO()
    setup_logging("INFO", stream=out)

    def deep(url: str) -> None:
        logging.getLogger("bot.x").info("at %s", url, stack_info=True)

    deep(f"https://api.telegram.org/bot{TOKEN}/getMe")
    entry = json.loads(out.getvalue())
    assert "stack" in entry
    assert TOKEN not in out.getvalue()


def test_noisy_libraries_stay_quiet() -> None:
    setup_logging("DEBUG", stream=io.StringIO())
    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger().level == logging.DEBUG


def test_libraries_log_warnings_only_unless_asked() -> None:
    out = io.StringIO()
    setup_logging("DEBUG", stream=out)
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("apscheduler.scheduler").info("Added job")
    logging.getLogger("apscheduler.scheduler").warning("job missed")
    logging.getLogger("bot.app").debug("ours")
    logged = [(e["logger"], e["message"]) for e in map(json.loads, out.getvalue().splitlines())]
    assert logged == [("apscheduler.scheduler", "job missed"), ("bot.app", "ours")]

    asked = io.StringIO()
    setup_logging("WARNING", stream=asked, library_level="INFO")
    logging.getLogger("alembic.runtime.migration").info("Context impl SQLiteImpl.")
    logging.getLogger("bot.app").info("not asked for")
    assert [json.loads(line)["logger"] for line in asked.getvalue().splitlines()] == [
        "alembic.runtime.migration"
    ]
