"""A local Telegram Bot API emulator for tests: aiohttp on 127.0.0.1, speaking the Bot API's JSON.

    async with run_emulator() as emu:
        emu.add_chat(1001)
        bot = telegram.Bot(emu.token, base_url=emu.base_url, base_file_url=emu.base_file_url)

The server runs in its own thread with its own event loop. Why: the bot under test may run in the
test's loop, in a worker thread or in a subprocess; the emulator must answer in every case, also
while a test blocks. The control API (add_chat, push_message, fail_next, down, ...) is plain
Python, safe to call from any thread except the emulator's own.

What it checks the way Telegram does: the token (401), the chat (400 chat not found, 403 blocked),
text length after entity parsing (4096), HTML parse mode (the tags Telegram allows, matched end
tags, entities), inline keyboards (callback_data 1-64 bytes), bot commands, callback query ids,
getUpdates offsets and a real long poll (a second concurrent getUpdates ends the first with 409,
as Telegram does). One deliberate difference: with `strict_entities` (the default) a bare `&` or
an unknown entity such as `&nbsp;` is rejected, where Telegram would keep it literally: feed text
that reaches us unescaped is a bug even when Telegram would forgive it.

Flood limits (1/s per chat, 30/s overall, 20/min per group) are always measured: breaches land in
`rate_violations`; `enforce_limits()` makes them real 429s with retry_after.

PTB 22 note: set PTB_TIMEDELTA=true in tests. Without it, merely building a RetryAfter emits a
PTBDeprecationWarning, which `filterwarnings = error` turns into the exception a 429 raises.

Times recorded in `sent`, `calls`, ... are `time.monotonic()` values.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

JSON = dict[str, Any]
T = TypeVar("T")

DEFAULT_TOKEN = "1234567:TEST-emulator-token_AAAAAAAAAAAAAAAA"  # fake: 7 digits
MAX_TEXT = 4096
MAX_CAPTION = 1024
# Methods that post a message into a chat: the ones Telegram's flood limits are about.
_SENDING = frozenset({"sendmessage", "sendphoto"})
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_BAD_GATEWAY_HTML = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: chat not found",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; make sure that only one bot "
    "instance is running",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class ApiError(Exception):
    """An answer with `ok: false`, shaped as Telegram shapes it."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def response(self) -> web.Response:
        if self.status == 502:
            # Telegram's 502s come from its nginx front, as HTML: clients must cope.
            return web.Response(status=502, text=_BAD_GATEWAY_HTML, content_type="text/html")
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return web.json_response(body, status=self.status)


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


# --------------------------------------------------------------------------------------------
# Records the tests read


@dataclass
class Call:
    method: str  # as the client spelled it
    params: JSON  # decoded parameters; uploaded files appear as "<file name, N bytes>"
    time: float
    status: int = 0  # HTTP status answered; 0 if the connection went away first


@dataclass
class SentMessage:
    chat_id: int
    text: str  # as sent: raw HTML when parse_mode is HTML
    parse_mode: str | None
    reply_markup: JSON | None
    message_id: int
    time: float
    plain_text: str = ""  # what Telegram stores and shows: tags stripped, entities decoded
    entities: list[JSON] = field(default_factory=list)
    link_preview_disabled: bool = False
    silent: bool = False  # disable_notification: delivered without a sound


@dataclass
class SentPhoto:
    chat_id: int
    data: bytes  # the uploaded bytes; empty when the photo was a file_id or URL
    filename: str | None
    content_type: str | None
    caption: str | None
    parse_mode: str | None
    reply_markup: JSON | None
    message_id: int
    time: float
    file_ref: str | None = None  # the file_id or URL, when not an upload


@dataclass
class Edit:
    chat_id: int
    message_id: int
    text: str
    parse_mode: str | None
    reply_markup: JSON | None
    time: float


@dataclass
class CallbackAnswer:
    callback_query_id: str
    text: str | None
    show_alert: bool
    time: float


@dataclass
class RateViolation:
    """A send that broke a flood limit: answered with 429 when limits are enforced."""

    chat_id: int
    method: str
    rule: str  # "per_chat", "global" or "group"
    time: float
    enforced: bool
    retry_after: int


@dataclass
class Chat:
    id: int
    type: str = "private"
    title: str | None = None
    username: str | None = None
    first_name: str | None = None

    def to_json(self) -> JSON:
        out: JSON = {"id": self.id, "type": self.type}
        if self.type == "private":
            out["first_name"] = self.first_name or f"User{self.id}"
        else:
            out["title"] = self.title or f"Chat {self.id}"
        if self.username:
            out["username"] = self.username
        return out


@dataclass
class Limits:
    """Telegram's published flood limits. `tolerance` forgives that fraction of a window:
    a client pacing at exactly the limit is measured a few ms early by the server's clock."""

    per_chat_per_s: float = 1.0
    global_per_s: float = 30.0
    group_per_min: float = 20.0
    tolerance: float = 0.05
    # "window": at most N sends in any sliding period (the literal reading of the limits).
    # "bucket": a leaky bucket of N draining at N per period, which allows a burst of N and then
    # the steady rate: how PTB's AIORateLimiter (aiolimiter) paces. Telegram's own algorithm is
    # not published.
    algorithm: str = "window"


@dataclass
class _Meter:
    """One flood rule's memory for one key (a chat, or the whole bot)."""

    times: deque[float] = field(default_factory=deque)
    level: float = 0.0
    last: float = 0.0

    def wait(self, now: float, rate: float, period: float, lim: Limits) -> float | None:
        """Seconds until a send would be allowed, or None if it is allowed now."""
        # A rate below 1 per period becomes 1 per longer window.
        count, window = (int(rate), period) if rate >= 1 else (1, period / rate)
        if lim.algorithm == "bucket":
            level = max(0.0, self.level - (now - self.last) * count / window)
            excess = level + 1 - count * (1 + lim.tolerance)
            return excess * window / count if excess > 0 else None
        horizon = now - window * (1 - lim.tolerance)
        while self.times and self.times[0] <= horizon:
            self.times.popleft()
        return self.times[0] - horizon if len(self.times) >= count else None

    def record(self, now: float, rate: float, period: float) -> None:
        count, window = (int(rate), period) if rate >= 1 else (1, period / rate)
        self.level = max(0.0, self.level - (now - self.last) * count / window) + 1
        self.last = now
        while self.times and self.times[0] <= now - window:
            self.times.popleft()
        self.times.append(now)


@dataclass
class _Fault:
    method: str  # lower-case method name or "*"
    remaining: int
    status: int
    description: str
    retry_after: int | None


# --------------------------------------------------------------------------------------------
# HTML parse mode: the subset Telegram accepts


class HtmlError(ValueError):
    pass


_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(#[0-9]{1,8}|#[xX][0-9a-fA-F]{1,7}|[a-zA-Z][a-zA-Z0-9]{0,31});")
# Tokenised as tdlib (Telegram's parser) does: a name runs to the next space or '>'.
_TAG_NAME_RE = re.compile(r"[^ \t\r\n>]*")
_ATTR_NAME_RE = re.compile(r"[^ \t\r\n=>]+")
_UNQUOTED_RE = re.compile(r"[a-zA-Z0-9.-]*")
_SPACES = " \t\r\n"


def utf16_len(s: str) -> int:
    """Entity offsets and lengths are counted in UTF-16 code units (Bot API docs)."""
    return len(s.encode("utf-16-le")) // 2


def _decode_entity(name: str) -> str | None:
    if name.startswith("#"):
        code = int(name[2:], 16) if name[1:2] in ("x", "X") else int(name[1:])
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        return chr(code)
    return _NAMED_ENTITIES.get(name)


@dataclass
class _Open:
    tag: str
    attrs: dict[str, str]
    start: int  # UTF-16 offset in the output
    language: str | None = None


class _HtmlParser:
    def __init__(self, text: str, strict_entities: bool) -> None:
        self.text = text
        self.strict = strict_entities
        self.i = 0
        self.out: list[str] = []
        self.u16 = 0
        self.stack: list[_Open] = []
        self.entities: list[JSON] = []

    def byte_offset(self, pos: int) -> int:
        return len(self.text[:pos].encode())

    def emit(self, s: str) -> None:
        self.out.append(s)
        self.u16 += utf16_len(s)

    def run(self) -> tuple[str, list[JSON]]:
        t = self.text
        while self.i < len(t):
            c = t[self.i]
            if c == "&":
                self.entity()
            elif c == "<":
                self.tag()
            else:
                ends = [p for p in (t.find("&", self.i), t.find("<", self.i)) if p >= 0]
                end = min(ends) if ends else len(t)
                self.emit(t[self.i : end])
                self.i = end
        if self.stack:
            raise HtmlError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1].tag}"'
            )
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def entity(self) -> None:
        m = _ENTITY_RE.match(self.text, self.i)
        char = _decode_entity(m.group(1)) if m else None
        if m and char is not None:
            self.emit(char)
            self.i = m.end()
            return
        if self.strict:
            where = self.byte_offset(self.i)
            if m:
                raise HtmlError(f'Unsupported HTML entity "{m.group(0)}" at byte offset {where}')
            raise HtmlError(f"Character '&' must be escaped as &amp; at byte offset {where}")
        self.emit("&")  # what Telegram does with an '&' that starts no known entity
        self.i += 1

    def tag(self) -> None:
        t, begin = self.text, self.i
        if t.startswith("</", begin):
            self.end_tag(begin)
            return
        m = _TAG_NAME_RE.match(t, begin + 1)
        assert m is not None  # the pattern matches the empty string
        name = m.group(0).lower()
        if m.end() >= len(t):
            raise HtmlError(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        if name not in _TAG_ENTITY:
            raise HtmlError(
                f'Unsupported start tag "{name}" at byte offset {self.byte_offset(begin)}'
            )
        attrs = self.attributes(name, begin, m.end())
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise HtmlError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte_offset(begin)}'
            )
        if name == "tg-emoji" and not attrs.get("emoji-id", "").isdigit():
            raise HtmlError(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset '
                f"{self.byte_offset(begin)}"
            )
        self.stack.append(_Open(name, attrs, self.u16))

    def skip_spaces(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos] in _SPACES:
            pos += 1
        return pos

    def attributes(self, tag: str, begin: int, pos: int) -> dict[str, str]:
        t, attrs = self.text, dict[str, str]()
        unclosed = HtmlError(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        while True:
            pos = self.skip_spaces(pos)
            if pos >= len(t):
                raise unclosed
            if t[pos] == ">":
                self.i = pos + 1
                return attrs
            m = _ATTR_NAME_RE.match(t, pos)
            if m is None:
                raise HtmlError(
                    f'Empty attribute name in the tag "{tag}" at byte offset '
                    f"{self.byte_offset(begin)}"
                )
            name = m.group(0).lower()
            pos = self.skip_spaces(m.end())
            if pos < len(t) and t[pos] == "=":
                value, pos = self.attribute_value(self.skip_spaces(pos + 1), unclosed)
            elif tag == "blockquote" and name == "expandable":
                value = ""  # the one attribute Telegram takes without a value
            else:
                raise HtmlError(
                    "Expected equal sign in declaration of an attribute of the tag "
                    f'"{tag}" at byte offset {self.byte_offset(begin)}'
                )
            attrs[name] = value

    def attribute_value(self, pos: int, unclosed: HtmlError) -> tuple[str, int]:
        t = self.text
        if pos >= len(t):
            raise unclosed
        if t[pos] in "'\"":
            end = t.find(t[pos], pos + 1)
            if end < 0:
                raise unclosed
            raw = t[pos + 1 : end]
            value = _ENTITY_RE.sub(lambda m: _decode_entity(m.group(1)) or m.group(0), raw)
            return value, end + 1
        # An unquoted name token: letters, digits, '.' and '-', case-insensitive.
        m = _UNQUOTED_RE.match(t, pos)
        assert m is not None
        if m.end() < len(t) and t[m.end()] not in _SPACES + ">":
            raise HtmlError(f"Unexpected end of name token at byte offset {self.byte_offset(pos)}")
        return m.group(0).lower(), m.end()

    def end_tag(self, begin: int) -> None:
        t = self.text
        m = _TAG_NAME_RE.match(t, begin + 2)
        assert m is not None
        name = m.group(0).lower()
        pos = self.skip_spaces(m.end())
        if not self.stack:
            raise HtmlError(f"Unexpected end tag at byte offset {self.byte_offset(begin)}")
        if pos >= len(t) or t[pos] != ">":
            raise HtmlError(f"Unclosed end tag at byte offset {self.byte_offset(begin)}")
        top = self.stack[-1]
        if name and name != top.tag:  # as in tdlib, "</>" closes whatever is open
            raise HtmlError(
                f"Unmatched end tag at byte offset {self.byte_offset(begin)}, "
                f'expected "</{top.tag}>", found "</{name}>"'
            )
        self.stack.pop()
        self.i = pos + 1
        self.close(top)

    def close(self, o: _Open) -> None:
        length = self.u16 - o.start
        parent = self.stack[-1] if self.stack else None
        if o.tag == "code" and parent and parent.tag == "pre":
            # <pre><code class="language-x"> names the pre block's language: no code entity.
            cls = o.attrs.get("class", "")
            if cls.startswith("language-"):
                parent.language = cls.removeprefix("language-")
                return
        if length == 0:
            return  # Telegram drops empty entities
        ent: JSON = {"type": _TAG_ENTITY[o.tag], "offset": o.start, "length": length}
        if o.tag == "a":
            href = o.attrs.get("href", "")
            if not href:
                return
            ent["url"] = href
        elif o.tag == "pre" and o.language:
            ent["language"] = o.language
        elif o.tag == "blockquote" and "expandable" in o.attrs:
            ent["type"] = "expandable_blockquote"
        elif o.tag == "tg-emoji":
            ent["custom_emoji_id"] = o.attrs["emoji-id"]
        self.entities.append(ent)


def parse_html(text: str, *, strict_entities: bool = True) -> tuple[str, list[JSON]]:
    """Text and entities as Telegram derives them from `parse_mode=HTML`; raises HtmlError."""
    return _HtmlParser(text, strict_entities).run()


# --------------------------------------------------------------------------------------------
# Parameter decoding: JSON bodies carry typed values, forms and multipart carry strings


def _json_value(params: JSON, name: str, error: str) -> Any:
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise _bad(error) from None
    return value


def _opt_str(params: JSON, name: str) -> str | None:
    value = params.get(name)
    return None if value is None else str(value)


def _int_param(params: JSON, name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {name} specified") from None


def _float_param(params: JSON, name: str, default: float) -> float:
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _bad(f"invalid {name} specified") from None


def _bool_param(params: JSON, name: str) -> bool:
    value = params.get(name)
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return bool(value)


def _check_markup(markup: Any) -> JSON | None:
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup  # reply keyboards, force_reply, remove: recorded, not checked
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise _bad("can't parse inline keyboard button: InlineKeyboardMarkup must be an Array")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise _bad("can't parse inline keyboard button: Text buttons are unallowed")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise _bad("BUTTON_DATA_INVALID")
            if not {"callback_data", "url", "switch_inline_query", "copy_text"} & button.keys():
                raise _bad("can't parse inline keyboard button: Text buttons are unallowed")
    return markup


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    return 1, 1


_COMMAND_RE = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w@/])")
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")


def command_entities(text: str) -> list[JSON]:
    """The bot_command entities Telegram attaches to an incoming message."""
    return [
        {"type": "bot_command", "offset": utf16_len(text[: m.start()]), "length": utf16_len(m[0])}
        for m in _COMMAND_RE.finditer(text)
    ]


# --------------------------------------------------------------------------------------------
# The emulator

Handler = Callable[[JSON, dict[str, web.FileField]], Awaitable[Any]]


class BotApiEmulator:
    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        username: str = "thesiswatch_test_bot",
        first_name: str = "thesiswatch",
        strict_entities: bool = True,
    ) -> None:
        self.token = token
        prefix = token.split(":", 1)[0]
        self.bot_id = int(prefix) if prefix.isdigit() else 1
        self.username = username
        self.first_name = first_name
        self.strict_entities = strict_entities
        self.port = 0

        # Records, appended under self._lock; read them freely from the test.
        self.sent: list[SentMessage] = []
        self.photos: list[SentPhoto] = []
        self.edits: list[Edit] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.calls: list[Call] = []
        self.rate_violations: list[RateViolation] = []
        self.commands_by_scope: dict[tuple[str, str], list[JSON]] = {}

        self._lock = threading.RLock()
        self._chats: dict[int, Chat] = {}
        self._blocked: dict[int, str] = {}
        self._migrated: dict[int, int] = {}
        self._messages: dict[tuple[int, int], JSON] = {}  # every message, by (chat, id)
        self._next_message_id: dict[int, int] = defaultdict(lambda: 1)
        self._updates: list[JSON] = []
        self._next_update_id = 700_000_001
        self._pending_callbacks: set[str] = set()
        self._next_callback = 1
        self._allowed_updates: set[str] | None = None
        self._webhook_url = ""
        self._faults: list[_Fault] = []
        self._slow: dict[str, tuple[float, bool]] = {}
        self._held: dict[int, asyncio.Event] = {}  # server loop only
        self._holding: dict[int, int] = defaultdict(int)  # sends waiting per held chat
        self._limits = Limits()
        # The flood meters' clock: a test that checks the limits themselves sets a fake one, so
        # its verdicts do not depend on how fast a loaded machine runs.
        self.rate_clock: Callable[[], float] = time.monotonic
        self._enforce = False
        self._meters: dict[tuple[str, int], _Meter] = defaultdict(_Meter)

        # Owned by the server thread.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None
        self._updates_event: asyncio.Event | None = None
        self._poll_generation = 0
        self._reopen: asyncio.TimerHandle | None = None
        self._methods: dict[str, Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "answercallbackquery": self._answer_callback_query,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendphoto": self._send_photo,
            "sendchataction": self._send_chat_action,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "close": self._true,
            "logout": self._true,
        }

    # ---- addresses

    @property
    def base_url(self) -> str:
        """For `Bot(base_url=...)`: PTB requests `{base_url}{token}/{method}`."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    @property
    def api_url(self) -> str:
        """The server root, as a self-hosted Bot API server's address is given."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def bot_user(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    # ---- life cycle

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("emulator already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self._astart())
            except BaseException as exc:
                failure.append(exc)
                loop.close()
                ready.set()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._astop())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=serve, name="botapi-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]

    def stop(self) -> None:
        if self._thread is None or self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = None

    async def _astart(self) -> None:
        self._updates_event = asyncio.Event()
        app = web.Application(client_max_size=50 * 1024 * 1024)  # photos up to 10 MB and more
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        # handler_cancellation: a request whose client hung up (or that `down` cut) stops there,
        # as it would when the connection dies before Telegram processed it.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        await self._listen()

    async def _listen(self) -> None:
        assert self._runner is not None
        assert self._runner.server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._runner.server, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _unlisten(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        assert self._runner is not None
        assert self._runner.server is not None
        for conn in self._runner.server.connections:
            conn.force_close()  # clients see their keep-alive connection reset
        await asyncio.sleep(0)

    async def _astop(self) -> None:
        if self._reopen is not None:
            self._reopen.cancel()
        await self._unlisten()
        if self._runner is not None:
            await self._runner.cleanup()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server loop from another thread and wait for it."""
        if self._loop is None or self._thread is None:
            coro.close()
            raise RuntimeError("emulator not started")
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("control calls come from the test, not the server thread")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    def _wake_pollers(self) -> None:
        """Wake every pending getUpdates (server thread only)."""
        if self._updates_event is not None:
            self._updates_event.set()
            self._updates_event = asyncio.Event()

    def _notify(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake_pollers)

    # ---- control API: chats and updates

    def add_chat(
        self,
        chat_id: int,
        type: str = "private",
        title: str | None = None,
        *,
        username: str | None = None,
    ) -> Chat:
        if type not in ("private", "group", "supergroup", "channel"):
            raise ValueError(f"unknown chat type {type!r}")
        chat = Chat(chat_id, type, title, username)
        with self._lock:
            self._chats[chat_id] = chat
        return chat

    def remove_chat(self, chat_id: int) -> None:
        """The chat disappears: sending to it answers `chat not found`."""
        with self._lock:
            self._chats.pop(chat_id, None)

    def block(self, chat_id: int) -> None:
        """The user blocks the bot, or the group kicks it: sending answers 403."""
        with self._lock:
            chat = self._chats.get(chat_id)
            kind = chat.type if chat else "private"
            self._blocked[chat_id] = {
                "private": "Forbidden: bot was blocked by the user",
                "group": "Forbidden: bot was kicked from the group chat",
                "supergroup": "Forbidden: bot was kicked from the supergroup chat",
                "channel": "Forbidden: bot is not a member of the channel chat",
            }[kind]

    def unblock(self, chat_id: int) -> None:
        with self._lock:
            self._blocked.pop(chat_id, None)

    def migrate(self, chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: sends to the old id answer 400 with migrate_to_chat_id
        (PTB raises ChatMigrated)."""
        with self._lock:
            self._migrated[chat_id] = new_chat_id
            self._chats.setdefault(new_chat_id, Chat(new_chat_id, "supergroup"))

    def _ensure_chat(self, chat_id: int) -> Chat:
        with self._lock:
            chat = self._chats.get(chat_id)
            if chat is None:
                kind = "private" if chat_id > 0 else "group"
                if str(chat_id).startswith("-100"):
                    kind = "supergroup"
                chat = self.add_chat(chat_id, kind)
            return chat

    @staticmethod
    def _user(user_id: int, first_name: str | None, username: str | None) -> JSON:
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or f"User{user_id}",
            "username": username or f"user{user_id}",
            "language_code": "en",
        }

    def push_message(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        first_name: str | None = None,
        username: str | None = None,
    ) -> JSON:
        """Queue a `message` update from a user (the chat is created if unknown)."""
        chat = self._ensure_chat(chat_id)
        with self._lock:
            message_id = self._take_message_id(chat_id)
            message: JSON = {
                "message_id": message_id,
                "from": self._user(user_id, first_name, username),
                "chat": chat.to_json(),
                "date": int(time.time()),
                "text": text,
            }
            entities = command_entities(text)
            if entities:
                message["entities"] = entities
            self._messages[(chat_id, message_id)] = message
            update = self._queue_update({"message": message})
        self._notify()
        return update

    def push_callback(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        data: str,
        *,
        first_name: str | None = None,
        username: str | None = None,
    ) -> JSON:
        """Queue a `callback_query` update: the user pressed a button of message_id."""
        chat = self._ensure_chat(chat_id)
        with self._lock:
            message = self._messages.get((chat_id, message_id))
            if message is None:  # a button on a message we never saw: still well formed
                message = {
                    "message_id": message_id,
                    "from": self.bot_user,
                    "chat": chat.to_json(),
                    "date": int(time.time()),
                    "text": "",
                }
            query_id = f"{self.bot_id}{self._next_callback:08d}"
            self._next_callback += 1
            self._pending_callbacks.add(query_id)
            query: JSON = {
                "id": query_id,
                "from": self._user(user_id, first_name, username),
                "message": dict(message),
                "chat_instance": f"{chat_id}-instance",
                "data": data,
            }
            update = self._queue_update({"callback_query": query})
        self._notify()
        return update

    def push_update(self, payload: JSON) -> JSON:
        """Queue any update body (e.g. {"my_chat_member": {...}}); update_id is assigned."""
        with self._lock:
            update = self._queue_update(dict(payload))
        self._notify()
        return update

    def _queue_update(self, payload: JSON) -> JSON:
        update = {"update_id": self._next_update_id, **payload}
        self._next_update_id += 1
        self._updates.append(update)
        return update

    def _take_message_id(self, chat_id: int) -> int:
        message_id = self._next_message_id[chat_id]
        self._next_message_id[chat_id] = message_id + 1
        return message_id

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by a getUpdates offset."""
        with self._lock:
            return list(self._updates)

    @property
    def commands(self) -> list[JSON]:
        """The default-scope, default-language command list, as setMyCommands stored it."""
        with self._lock:
            return list(self.commands_by_scope.get(('{"type": "default"}', ""), []))

    def sent_to(self, chat_id: int) -> list[SentMessage]:
        with self._lock:
            return [m for m in self.sent if m.chat_id == chat_id]

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method.lower() == method.lower()]

    def clear_records(self) -> None:
        with self._lock:
            for records in (self.sent, self.photos, self.edits, self.callback_answers):
                records.clear()
            self.calls.clear()
            self.rate_violations.clear()

    # ---- control API: faults

    def fail_next(
        self,
        method: str,
        n: int = 1,
        *,
        status: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """The next n calls of `method` ("*" for any) answer with this error instead."""
        if status == 429:
            retry_after = 1 if retry_after is None else retry_after
            description = description or f"Too Many Requests: retry after {retry_after}"
        description = description or _DEFAULT_DESCRIPTIONS.get(status, f"Error {status}")
        with self._lock:
            self._faults.append(_Fault(method.lower(), n, status, description, retry_after))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._slow.clear()

    def slow(self, method: str, seconds: float, *, after: bool = False) -> None:
        """Delay answers to `method` ("*" for any). With after=True the call takes effect first
        and only the answer is late: a client that times out and retries sends it twice."""
        with self._lock:
            if seconds <= 0:
                self._slow.pop(method.lower(), None)
            else:
                self._slow[method.lower()] = (seconds, after)

    def hold(self, chat_id: int) -> None:
        """Sends to chat_id (sendMessage, sendPhoto) wait, unanswered, until `release`: a chat
        whose messages are slow to go out. `holding(chat_id)` counts the sends waiting. A client
        that gives up first (its read timeout) leaves nothing behind."""
        self._run(self._set_hold(chat_id, True))

    def release(self, chat_id: int) -> None:
        """Let held sends to chat_id through, in the order they came."""
        self._run(self._set_hold(chat_id, False))

    def holding(self, chat_id: int) -> int:
        with self._lock:
            return self._holding[chat_id]

    async def _set_hold(self, chat_id: int, on: bool) -> None:
        if on:
            self._held.setdefault(chat_id, asyncio.Event())
        elif chat_id in self._held:
            self._held.pop(chat_id).set()

    async def _wait_if_held(self, chat_id: int) -> None:
        gate = self._held.get(chat_id)
        if gate is None:
            return
        with self._lock:
            self._holding[chat_id] += 1
        try:
            await gate.wait()
        finally:
            with self._lock:
                self._holding[chat_id] -= 1

    def set_down(self, down: bool) -> None:
        """Stop or resume listening on the same port. While down, connecting is refused and
        open connections (long polls too) are cut."""
        if down:
            self._run(self._go_down(None))
        else:
            self._run(self._go_up())

    def down(self, seconds: float) -> None:
        """Refuse connections for `seconds`, then listen again on the same port."""
        self._run(self._go_down(seconds))

    @property
    def is_down(self) -> bool:
        return self._server is None

    async def _go_down(self, seconds: float | None) -> None:
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None
        await self._unlisten()
        if seconds is not None:
            loop = asyncio.get_running_loop()
            self._reopen = loop.call_later(seconds, lambda: loop.create_task(self._go_up()))

    async def _go_up(self) -> None:
        if self._reopen is not None:
            self._reopen.cancel()
            self._reopen = None
        if self._server is None:
            await self._listen()

    def enforce_limits(
        self,
        per_chat_per_s: float = 1.0,
        global_per_s: float = 30.0,
        group_per_min: float = 20.0,
        *,
        enabled: bool = True,
        tolerance: float = 0.05,
        algorithm: str = "window",
    ) -> None:
        """Answer sends (sendMessage, sendPhoto) beyond these limits with a real 429 carrying
        retry_after. Violations of the limits in force (Telegram's by default) are counted in
        `rate_violations` whether or not they are enforced. See Limits for `algorithm`."""
        if algorithm not in ("window", "bucket"):
            raise ValueError(f"unknown algorithm {algorithm!r}")
        with self._lock:
            self._limits = Limits(per_chat_per_s, global_per_s, group_per_min, tolerance, algorithm)
            self._enforce = enabled

    # ---- test helpers: waiting

    # A plain `timeout=` deadline reads best in tests, hence the ASYNC109 waivers.
    async def wait_for(
        self,
        predicate: Callable[[], bool],
        *,
        timeout: float = 5.0,  # noqa: ASYNC109
        what: str = "condition",
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"emulator: timed out after {timeout}s waiting for {what}")
            await asyncio.sleep(0.01)

    async def wait_sent(
        self,
        count: int = 1,
        *,
        chat_id: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[SentMessage]:
        """Wait until at least `count` messages were sent (to chat_id, if given)."""

        def matching() -> list[SentMessage]:
            return self.sent_to(chat_id) if chat_id is not None else list(self.sent)

        await self.wait_for(
            lambda: len(matching()) >= count, timeout=timeout, what=f"{count} sent message(s)"
        )
        return matching()

    def wait_sent_blocking(
        self, count: int = 1, *, chat_id: int | None = None, timeout: float = 5.0
    ) -> list[SentMessage]:
        """wait_sent for synchronous tests (e.g. while a bot subprocess runs)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.sent_to(chat_id) if chat_id is not None else list(self.sent)
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"emulator: timed out waiting for {count} sent message(s)")
            time.sleep(0.01)

    # ---- HTTP

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        if request.match_info["token"] != self.token:
            return ApiError(401, "Unauthorized").response()
        call = Call(method, {}, time.monotonic())
        with self._lock:
            self.calls.append(call)
        try:
            params, files = await self._read_params(request)
            call.params = {**params, **{k: f"<{v.filename}, file>" for k, v in files.items()}}
            result = await self._dispatch(method.lower(), params, files)
            response = web.json_response({"ok": True, "result": result})
        except ApiError as err:
            response = err.response()
        call.status = response.status
        return response

    async def _read_params(self, request: web.Request) -> tuple[JSON, dict[str, web.FileField]]:
        params: JSON = dict(request.query)
        files: dict[str, web.FileField] = {}
        if request.method != "POST" or not request.body_exists:
            return params, files
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise _bad("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise _bad("can't parse JSON object")
            params.update(body)
            return params, files
        form = await request.post()  # form-urlencoded and multipart alike
        for name, value in form.items():
            if isinstance(value, web.FileField):
                files[name] = value
            else:
                params[name] = value if isinstance(value, str) else value.decode()
        return params, files

    async def _dispatch(self, method: str, params: JSON, files: dict[str, web.FileField]) -> Any:
        with self._lock:
            delay, after = self._slow.get(method) or self._slow.get("*") or (0.0, False)
        if delay and not after:
            await asyncio.sleep(delay)
        self._take_fault(method)
        handler = self._methods.get(method)
        if handler is None:
            raise ApiError(404, "Not Found")
        result = await handler(params, files)
        if delay and after:
            await asyncio.sleep(delay)
        return result

    def _take_fault(self, method: str) -> None:
        with self._lock:
            for fault in self._faults:
                if fault.method in (method, "*") and fault.remaining > 0:
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    parameters = (
                        {"retry_after": fault.retry_after}
                        if fault.retry_after is not None
                        else None
                    )
                    raise ApiError(fault.status, fault.description, parameters)

    # ---- checks shared by methods

    def _chat(self, params: JSON) -> Chat:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise _bad("chat_id is empty")
        with self._lock:
            if isinstance(raw, str) and raw.startswith("@"):
                named = [c.id for c in self._chats.values() if f"@{c.username}" == raw]
                if not named:
                    raise _bad("chat not found")
                chat_id = named[0]
            else:
                try:
                    chat_id = int(raw)
                except (TypeError, ValueError):
                    raise _bad("chat not found") from None
            if chat_id in self._migrated:
                raise ApiError(
                    400,
                    "Bad Request: group chat was upgraded to a supergroup chat",
                    {"migrate_to_chat_id": self._migrated[chat_id]},
                )
            found = self._chats.get(chat_id)
            if found is None:
                raise _bad("chat not found")
            if chat_id in self._blocked:
                raise ApiError(403, self._blocked[chat_id])
            return found

    def _render(self, text: str, parse_mode: str | None, params: JSON) -> tuple[str, list[JSON]]:
        mode = (parse_mode or "").lower()
        if mode == "html":
            try:
                return parse_html(text, strict_entities=self.strict_entities)
            except HtmlError as err:
                raise _bad(f"can't parse entities: {err}") from None
        if mode not in ("", "markdown", "markdownv2"):
            raise _bad(f"unsupported parse_mode {parse_mode}")
        # Markdown modes are not parsed here; explicit entities pass through.
        entities = _json_value(params, "entities", "can't parse entities JSON object") or []
        return text, list(entities)

    def _rate_check(self, chat: Chat, method: str) -> None:
        now = self.rate_clock()
        with self._lock:
            lim = self._limits
            rules = [
                ("per_chat", chat.id, lim.per_chat_per_s, 1.0),
                ("global", 0, lim.global_per_s, 1.0),
            ]
            if chat.type in ("group", "supergroup", "channel"):
                rules.append(("group", chat.id, lim.group_per_min, 60.0))
            meters = [
                (rule, self._meters[(rule, key)], rate, period)
                for rule, key, rate, period in rules
                if rate > 0
            ]
            for rule, meter, rate, period in meters:
                wait = meter.wait(now, rate, period, lim)
                if wait is None:
                    continue
                retry_after = max(1, math.ceil(wait))
                self.rate_violations.append(
                    RateViolation(chat.id, method, rule, now, self._enforce, retry_after)
                )
                if self._enforce:
                    raise ApiError(
                        429,
                        f"Too Many Requests: retry after {retry_after}",
                        {"retry_after": retry_after},
                    )
            for _rule, meter, rate, period in meters:
                meter.record(now, rate, period)

    def _message_json(self, chat: Chat, message_id: int) -> JSON:
        return {
            "message_id": message_id,
            "from": self.bot_user,
            "chat": chat.to_json(),
            "date": int(time.time()),
        }

    # ---- methods

    async def _true(self, params: JSON, files: dict[str, web.FileField]) -> bool:
        return True

    async def _get_me(self, params: JSON, files: dict[str, web.FileField]) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: JSON, files: dict[str, web.FileField]) -> list[JSON]:
        if self._webhook_url:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int_param(params, "offset", 0)
        limit = min(max(_int_param(params, "limit", 100), 1), 100)
        timeout = max(_float_param(params, "timeout", 0.0), 0.0)
        allowed = _json_value(params, "allowed_updates", "can't parse allowed_updates")
        if allowed is not None:
            with self._lock:
                self._allowed_updates = set(allowed) or None
        # A newer getUpdates ends any pending one with 409, as Telegram does.
        self._poll_generation += 1
        generation = self._poll_generation
        self._wake_pollers()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(409, _DEFAULT_DESCRIPTIONS[409])
            updates = self._confirm_and_take(offset, limit)
            remaining = deadline - loop.time()
            if updates or remaining <= 0:
                return updates
            event = self._updates_event
            assert event is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), remaining)

    def _confirm_and_take(self, offset: int, limit: int) -> list[JSON]:
        with self._lock:
            if offset > 0:
                # Confirming: every update below offset is forgotten for good.
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            allowed = self._allowed_updates
            wanted = [
                u for u in self._updates if allowed is None or (u.keys() - {"update_id"}) & allowed
            ]
            return [dict(u) for u in wanted[:limit]]

    async def _send_message(self, params: JSON, files: dict[str, web.FileField]) -> JSON:
        chat = self._chat(params)
        await self._wait_if_held(chat.id)
        text = _opt_str(params, "text") or ""
        parse_mode = _opt_str(params, "parse_mode")
        plain, entities = self._render(text, parse_mode, params)
        if not plain.strip():
            raise _bad("message text is empty")
        if len(plain) > MAX_TEXT:
            raise _bad("message is too long")
        markup = _check_markup(
            _json_value(params, "reply_markup", "can't parse reply keyboard markup JSON object")
        )
        preview = _json_value(params, "link_preview_options", "can't parse link preview options")
        no_preview = _bool_param(params, "disable_web_page_preview") or bool(
            isinstance(preview, dict) and preview.get("is_disabled")
        )
        self._rate_check(chat, "sendMessage")
        with self._lock:
            message_id = self._take_message_id(chat.id)
            message = self._message_json(chat, message_id)
            message["text"] = plain
            if entities:
                message["entities"] = entities
            if markup and "inline_keyboard" in markup:
                message["reply_markup"] = markup
            if no_preview:
                message["link_preview_options"] = {"is_disabled": True}
            self._messages[(chat.id, message_id)] = message
            self.sent.append(
                SentMessage(
                    chat.id,
                    text,
                    parse_mode,
                    markup,
                    message_id,
                    time.monotonic(),
                    plain,
                    entities,
                    no_preview,
                    _bool_param(params, "disable_notification"),
                )
            )
        return message

    async def _edit_message_text(
        self, params: JSON, files: dict[str, web.FileField]
    ) -> JSON | bool:
        if params.get("inline_message_id"):
            return True
        chat = self._chat(params)
        message_id = _int_param(params, "message_id", 0)
        text = _opt_str(params, "text") or ""
        parse_mode = _opt_str(params, "parse_mode")
        plain, entities = self._render(text, parse_mode, params)
        if not plain.strip():
            raise _bad("message text is empty")
        if len(plain) > MAX_TEXT:
            raise _bad("MESSAGE_TOO_LONG")
        markup = _check_markup(
            _json_value(params, "reply_markup", "can't parse reply keyboard markup JSON object")
        )
        with self._lock:
            message = self._messages.get((chat.id, message_id))
            if message is None:
                raise _bad("message to edit not found")
            if message["from"].get("id") != self.bot_id:
                raise _bad("message can't be edited")
            if (
                message.get("text") == plain
                and message.get("entities", []) == entities
                and message.get("reply_markup") == markup
            ):
                raise _bad(
                    "message is not modified: specified new message content and reply markup "
                    "are exactly the same as a current content and reply markup of the message"
                )
            message = {**message, "text": plain, "edit_date": int(time.time())}
            message.pop("entities", None)
            message.pop("reply_markup", None)
            if entities:
                message["entities"] = entities
            if markup:
                message["reply_markup"] = markup
            self._messages[(chat.id, message_id)] = message
            self.edits.append(Edit(chat.id, message_id, text, parse_mode, markup, time.monotonic()))
        return message

    async def _answer_callback_query(self, params: JSON, files: dict[str, web.FileField]) -> bool:
        query_id = _opt_str(params, "callback_query_id") or ""
        text = _opt_str(params, "text")
        if text is not None and len(text) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        with self._lock:
            if query_id not in self._pending_callbacks:
                raise _bad("query is too old and response timeout expired or query ID is invalid")
            self._pending_callbacks.discard(query_id)
            self.callback_answers.append(
                CallbackAnswer(query_id, text, _bool_param(params, "show_alert"), time.monotonic())
            )
        return True

    @staticmethod
    def _scope_key(params: JSON) -> tuple[str, str]:
        scope = _json_value(params, "scope", "can't parse BotCommandScope JSON object")
        scope = scope or {"type": "default"}
        return json.dumps(scope, sort_keys=True), _opt_str(params, "language_code") or ""

    async def _set_my_commands(self, params: JSON, files: dict[str, web.FileField]) -> bool:
        commands = _json_value(params, "commands", "can't parse commands JSON object")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("can't parse commands JSON object")
        for cmd in commands:
            if not isinstance(cmd, dict) or not _COMMAND_NAME_RE.fullmatch(
                str(cmd.get("command", ""))
            ):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(cmd.get("description", ""))) <= 256:
                raise _bad("command description is empty")
        key = self._scope_key(params)
        with self._lock:
            self.commands_by_scope[key] = [
                {"command": c["command"], "description": c["description"]} for c in commands
            ]
        return True

    async def _get_my_commands(self, params: JSON, files: dict[str, web.FileField]) -> list[JSON]:
        with self._lock:
            return list(self.commands_by_scope.get(self._scope_key(params), []))

    async def _delete_my_commands(self, params: JSON, files: dict[str, web.FileField]) -> bool:
        with self._lock:
            self.commands_by_scope.pop(self._scope_key(params), None)
        return True

    async def _send_photo(self, params: JSON, files: dict[str, web.FileField]) -> JSON:
        chat = self._chat(params)
        await self._wait_if_held(chat.id)
        ref = _opt_str(params, "photo")
        upload = files.get("photo")
        if upload is None and ref and ref.startswith("attach://"):
            upload = files.get(ref.removeprefix("attach://"))
        if upload is None and not ref:
            raise _bad("there is no photo in the request")
        data = upload.file.read() if upload is not None else b""
        if upload is not None and not data:
            raise _bad("file must be non-empty")
        caption = _opt_str(params, "caption")
        parse_mode = _opt_str(params, "parse_mode")
        plain, entities = self._render(caption or "", parse_mode, params)
        if len(plain) > MAX_CAPTION:
            raise _bad("message caption is too long")
        markup = _check_markup(
            _json_value(params, "reply_markup", "can't parse reply keyboard markup JSON object")
        )
        self._rate_check(chat, "sendPhoto")
        width, height = _png_size(data)
        with self._lock:
            message_id = self._take_message_id(chat.id)
            message = self._message_json(chat, message_id)
            message["photo"] = [
                {
                    "file_id": f"photo-{chat.id}-{message_id}",
                    "file_unique_id": f"u{chat.id}x{message_id}",
                    "width": width,
                    "height": height,
                    "file_size": len(data),
                }
            ]
            if plain:
                message["caption"] = plain
            if entities:
                message["caption_entities"] = entities
            if markup and "inline_keyboard" in markup:
                message["reply_markup"] = markup
            self._messages[(chat.id, message_id)] = message
            self.photos.append(
                SentPhoto(
                    chat.id,
                    data,
                    upload.filename if upload else None,
                    upload.content_type if upload else None,
                    caption,
                    parse_mode,
                    markup,
                    message_id,
                    time.monotonic(),
                    None if upload else ref,
                )
            )
        return message

    async def _send_chat_action(self, params: JSON, files: dict[str, web.FileField]) -> bool:
        self._chat(params)
        if _opt_str(params, "action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    async def _delete_webhook(self, params: JSON, files: dict[str, web.FileField]) -> bool:
        with self._lock:
            self._webhook_url = ""
            if _bool_param(params, "drop_pending_updates"):
                self._updates.clear()
        return True

    async def _set_webhook(self, params: JSON, files: dict[str, web.FileField]) -> bool:
        url = _opt_str(params, "url") or ""
        if url and not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        with self._lock:
            self._webhook_url = url
        return True

    async def _get_webhook_info(self, params: JSON, files: dict[str, web.FileField]) -> JSON:
        with self._lock:
            return {
                "url": self._webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }


# --------------------------------------------------------------------------------------------
# Fixtures


@contextlib.asynccontextmanager
async def run_emulator(token: str = DEFAULT_TOKEN, **kwargs: Any) -> AsyncIterator[BotApiEmulator]:
    """`async with run_emulator() as emu:` a started emulator, stopped on exit."""
    emu = BotApiEmulator(token, **kwargs)
    await asyncio.to_thread(emu.start)
    try:
        yield emu
    finally:
        await asyncio.to_thread(emu.stop)


@contextlib.contextmanager
def emulator(token: str = DEFAULT_TOKEN, **kwargs: Any) -> Iterator[BotApiEmulator]:
    """The same for synchronous tests and fixtures."""
    emu = BotApiEmulator(token, **kwargs)
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()
