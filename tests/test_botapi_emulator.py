"""The Bot API emulator against the real python-telegram-bot client: if PTB parses its answers and
maps its errors the way it does Telegram's, bot tests that run against it mean something."""

from __future__ import annotations

import asyncio
import datetime as dtm
import html
import json
import struct
import time
import urllib.request
import zlib
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError, RetryAfter
from telegram.ext import (
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
)

from tests.helpers.botapi import (
    DEFAULT_TOKEN,
    BotApiEmulator,
    HtmlError,
    command_entities,
    emulator,
    parse_html,
    run_emulator,
)

CHAT = 4242
USER = 4242
GROUP = -1001234567890


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without PTB_TIMEDELTA, PTB 22 warns (PTBDeprecationWarning) whenever a RetryAfter is even
    built, and this suite turns warnings into errors: a 429 would surface as the warning."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    async with run_emulator() as emulator:
        emulator.add_chat(CHAT, "private")
        emulator.add_chat(GROUP, "supergroup", "traders")
        yield emulator


@pytest.fixture
async def bot(emu: BotApiEmulator) -> AsyncIterator[Bot]:
    async with Bot(DEFAULT_TOKEN, base_url=emu.base_url, base_file_url=emu.base_file_url) as b:
        yield b


def _png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + b"\xff" * (width * 3) for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


# ---- the HTML checker on its own


@pytest.mark.parametrize(
    ("html", "plain", "types"),
    [
        ("<b>NVDA</b> &lt;up&gt; &amp; &quot;x&quot;", 'NVDA <up> & "x"', ["bold"]),
        ("<a href='https://x.test/?a=1&amp;b=2'>link</a>", "link", ["text_link"]),
        ('<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>', "st", ["spoiler"] * 2),
        ('<pre><code class="language-python">x = 1</code></pre>', "x = 1", ["pre"]),
        ("<blockquote expandable>q</blockquote><i><u>iu</u></i>", "qiu", None),
        ("&#36;NVDA &#x25B2;", "$NVDA ▲", []),
        ("<i>x</>", "x", ["italic"]),
        ("<a href=HTTP>x</a>", "x", ["text_link"]),
        ("<b>😀</b>x", "😀x", ["bold"]),
    ],
)
def test_html_accepted(html: str, plain: str, types: list[str] | None) -> None:
    text, entities = parse_html(html)
    assert text == plain
    if types is not None:
        assert [e["type"] for e in entities] == types
    if html.startswith("<b>😀"):
        assert entities[0]["length"] == 2  # UTF-16 code units, as Telegram counts


def test_html_entities_carry_offsets_and_attributes() -> None:
    text, entities = parse_html(
        'ab<a href="https://e.test">cd</a><pre><code class="language-py">x</code></pre>'
        "<blockquote expandable>q</blockquote>"
    )
    assert text == "abcdxq"
    assert entities == [
        {"type": "text_link", "offset": 2, "length": 2, "url": "https://e.test"},
        {"type": "pre", "offset": 4, "length": 1, "language": "py"},
        {"type": "expandable_blockquote", "offset": 5, "length": 1},
    ]


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<script>x</script>", 'Unsupported start tag "script" at byte offset 0'),
        ("a <br> b", 'Unsupported start tag "br" at byte offset 2'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("x <b!>y</b>", 'Unsupported start tag "b!" at byte offset 2'),
        ("<b>x</b", "Unclosed end tag at byte offset 4"),
        ("<a href=x/y>z</a>", "Unexpected end of name token at byte offset 8"),
        (
            "<pre hidden>x</pre>",
            'Expected equal sign in declaration of an attribute of the tag "pre"',
        ),
        ('<a href="x>y</a>', "Unclosed start tag at byte offset 0"),
        ('<span class="red">x</span>', 'Tag "span" must have class "tg-spoiler"'),
        ("AT&T", "Character '&' must be escaped as &amp; at byte offset 2"),
        ("&nbsp;", 'Unsupported HTML entity "&nbsp;"'),
        ("&#0;", 'Unsupported HTML entity "&#0;"'),
        ("é<b>", 'Can\'t find end tag corresponding to start tag "b"'),
        ("é<x>", 'Unsupported start tag "x" at byte offset 2'),  # byte, not character, offsets
    ],
)
def test_html_rejected(html: str, error: str) -> None:
    with pytest.raises(HtmlError, match="^" + error.replace("(", r"\(")):
        parse_html(html)


def test_lenient_entities_like_telegram() -> None:
    assert parse_html("AT&T &nbsp;", strict_entities=False)[0] == "AT&T &nbsp;"


def test_command_entities_count_utf16() -> None:
    assert command_entities("/status@thesiswatch_test_bot h20-ban") == [
        {"type": "bot_command", "offset": 0, "length": 28}
    ]
    assert command_entities("😀 /why 12 and a/b") == [
        {"type": "bot_command", "offset": 3, "length": 4}
    ]


# ---- PTB's Bot against the emulator


async def test_get_me(bot: Bot, emu: BotApiEmulator) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (emu.bot_id, emu.username, True)
    assert bot.username == emu.username  # initialize() already called getMe


async def test_unknown_token_is_unauthorized(emu: BotApiEmulator) -> None:
    from telegram.error import InvalidToken

    # initialize() (getMe) turns the 401 into InvalidToken, and its message quotes the token.
    with pytest.raises(InvalidToken, match="rejected by the server"):
        async with Bot("999:wrong", base_url=emu.base_url):
            pass
    assert emu.calls == []  # a wrong token reaches no method


async def test_send_message_html_with_keyboard(bot: Bot, emu: BotApiEmulator) -> None:
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Why?", callback_data="why:17"),
                InlineKeyboardButton("Ack", callback_data="ack:17"),
            ]
        ]
    )
    msg = await bot.send_message(
        CHAT,
        "<b>h20-ban</b>: intact -&gt; broken $NVDA ▲",
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    again = await bot.send_message(CHAT, "second", disable_web_page_preview=True)
    assert (msg.message_id, again.message_id) == (1, 2)  # increasing per chat
    assert msg.text == "h20-ban: intact -> broken $NVDA ▲"
    assert msg.entities[0].type == "bold"
    assert msg.chat.id == CHAT
    assert msg.from_user is not None
    assert msg.from_user.is_bot
    assert msg.reply_markup == keyboard
    sent = emu.sent[0]
    assert sent.text.startswith("<b>h20-ban</b>")
    assert sent.parse_mode == "HTML"
    assert sent.reply_markup is not None
    assert sent.reply_markup["inline_keyboard"][0][0]["callback_data"] == "why:17"
    assert sent.link_preview_disabled
    assert emu.sent[1].link_preview_disabled
    assert [c.method for c in emu.calls] == ["getMe", "sendMessage", "sendMessage"]


async def test_malformed_html_is_bad_request(bot: Bot, emu: BotApiEmulator) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities: unsupported start tag"):
        await bot.send_message(CHAT, "Nvidia <script>alert(1)</script>", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can't find end tag"):
        await bot.send_message(CHAT, "<b>open", parse_mode="HTML")
    assert emu.sent == []
    assert emu.calls[-1].status == 400


async def test_length_limit_counts_text_after_parsing(bot: Bot, emu: BotApiEmulator) -> None:
    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(CHAT, "x" * 4097)
    await bot.send_message(CHAT, "x" * 4096)
    await bot.send_message(CHAT, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML")  # tags are free
    assert [len(m.plain_text) for m in emu.sent] == [4096, 4096]


async def test_unknown_chat_and_empty_text(bot: Bot) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(777, "hi")
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(CHAT, "  ")


async def test_429_is_retry_after(bot: Bot, emu: BotApiEmulator) -> None:
    emu.fail_next("sendMessage", status=429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "alert")
    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    await bot.send_message(CHAT, "alert")  # only the next call failed
    assert [m.text for m in emu.sent] == ["alert"]


async def test_blocked_kicked_and_migrated(bot: Bot, emu: BotApiEmulator) -> None:
    emu.block(CHAT)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "alert")
    emu.block(GROUP)
    with pytest.raises(Forbidden, match="kicked from the supergroup chat"):
        await bot.send_message(GROUP, "alert")
    emu.add_chat(-55, "group")
    emu.migrate(-55, -10055)
    with pytest.raises(ChatMigrated) as caught:
        await bot.send_message(-55, "alert")
    assert caught.value.new_chat_id == -10055


@pytest.mark.parametrize("status", [500, 502])
async def test_server_errors_are_network_errors(bot: Bot, emu: BotApiEmulator, status: int) -> None:
    emu.fail_next("*", 2, status=status)
    for _ in range(2):
        with pytest.raises(NetworkError) as caught:
            await bot.send_message(CHAT, "alert")
        # The subclasses mean something else; a delivery worker must not mistake them.
        assert not isinstance(caught.value, BadRequest | Forbidden | RetryAfter)
    await bot.send_message(CHAT, "alert")
    assert len(emu.sent) == 1


async def test_injected_400_and_403(bot: Bot, emu: BotApiEmulator) -> None:
    emu.fail_next("sendMessage", status=400)
    emu.fail_next("sendMessage", status=403, description="Forbidden: user is deactivated")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(CHAT, "a")
    with pytest.raises(Forbidden, match="user is deactivated"):
        await bot.send_message(CHAT, "a")


async def test_connection_refused_then_back_on_the_same_port(bot: Bot, emu: BotApiEmulator) -> None:
    port = emu.port
    await bot.send_message(CHAT, "before")  # leaves a keep-alive connection in the pool
    emu.set_down(True)
    with pytest.raises(NetworkError, match="httpx"):
        await bot.send_message(CHAT, "during")
    emu.set_down(False)
    assert emu.port == port
    await bot.send_message(CHAT, "after")
    assert [m.text for m in emu.sent] == ["before", "after"]


async def test_timed_outage(bot: Bot, emu: BotApiEmulator) -> None:
    emu.down(0.3)
    assert emu.is_down
    with pytest.raises(NetworkError):
        await bot.send_message(CHAT, "during")
    await emu.wait_for(lambda: not emu.is_down, timeout=2, what="the end of the outage")
    await bot.send_message(CHAT, "after")


async def test_slow_answer_times_out_and_after_mode_still_delivers(
    bot: Bot, emu: BotApiEmulator
) -> None:
    from telegram.error import TimedOut

    emu.slow("sendMessage", 0.5)
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "lost", read_timeout=0.1)
    emu.slow("sendMessage", 0.5, after=True)
    with pytest.raises(TimedOut):
        await bot.send_message(CHAT, "kept", read_timeout=0.1)
    await emu.wait_sent(1)
    emu.slow("sendMessage", 0)
    # The cut request never took effect; the late answer did: a retry would duplicate it.
    assert [m.text for m in emu.sent] == ["kept"]


async def test_get_updates_long_poll(bot: Bot, emu: BotApiEmulator) -> None:
    start = time.monotonic()
    assert await bot.get_updates(timeout=dtm.timedelta(seconds=0.3)) == ()
    assert 0.25 <= time.monotonic() - start < 4.0  # waited out its timeout, not a default one

    async def push_later() -> None:
        await asyncio.sleep(0.2)
        await asyncio.to_thread(emu.push_message, CHAT, USER, "/status@thesiswatch_test_bot")

    pusher = asyncio.create_task(push_later())
    start = time.monotonic()
    updates = await bot.get_updates(timeout=5, allowed_updates=["message", "callback_query"])
    await pusher
    assert time.monotonic() - start < 4.5  # answered on arrival, not after 5 s (loaded CI: slack)
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None
    assert message.text == "/status@thesiswatch_test_bot"
    assert message.parse_entities(["bot_command"])  # PTB sees the command entity
    # Unconfirmed updates come again; an offset past them confirms them for good.
    assert len(await bot.get_updates(timeout=0)) == 1
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == ()
    assert emu.pending_updates == []


async def test_concurrent_get_updates_conflict(bot: Bot, emu: BotApiEmulator) -> None:
    from telegram.error import Conflict

    # Two bot instances polling one token: Telegram ends the older long poll with 409.
    async with Bot(emu.token, base_url=emu.base_url) as other:
        first = asyncio.create_task(bot.get_updates(timeout=2))
        await emu.wait_for(lambda: len(emu.calls_to("getUpdates")) == 1, what="the first poll")
        assert await other.get_updates(timeout=0) == ()
        with pytest.raises(Conflict, match="terminated by other getUpdates"):
            await first


async def test_commands_photo_callback_and_edit(bot: Bot, emu: BotApiEmulator) -> None:
    commands = [BotCommand("status", "the board"), BotCommand("why", "evidence for an alert")]
    assert await bot.set_my_commands(commands)
    assert emu.commands == [
        {"command": "status", "description": "the board"},
        {"command": "why", "description": "evidence for an alert"},
    ]
    assert await bot.get_my_commands() == tuple(commands)
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])

    png = _png(3, 2)
    photo = await bot.send_photo(CHAT, png, caption="<b>chart</b>", parse_mode="HTML")
    assert emu.photos[0].data == png
    assert emu.photos[0].caption == "<b>chart</b>"
    assert (photo.photo[-1].width, photo.photo[-1].height) == (3, 2)
    assert photo.caption == "chart"

    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Ack", callback_data="ack:1")]])
    msg = await bot.send_message(CHAT, "alert", reply_markup=keyboard)
    update = emu.push_callback(CHAT, USER, msg.message_id, "ack:1")
    query_id = update["callback_query"]["id"]
    assert await bot.answer_callback_query(query_id, text="acknowledged")
    assert emu.callback_answers[0].text == "acknowledged"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)

    edited = await bot.edit_message_text("alert (acked)", chat_id=CHAT, message_id=msg.message_id)
    assert not isinstance(edited, bool)
    assert edited.text == "alert (acked)"
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("alert (acked)", chat_id=CHAT, message_id=msg.message_id)
    assert await bot.send_chat_action(CHAT, "upload_photo")
    assert await bot.delete_webhook()


async def test_button_data_over_64_bytes(bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match="Button_data_invalid"):
        await bot.send_message(CHAT, "alert", reply_markup=keyboard)


async def test_rate_limits_counted_then_enforced(bot: Bot, emu: BotApiEmulator) -> None:
    await bot.send_message(CHAT, "1")
    await bot.send_message(CHAT, "2")  # too soon, counted but let through
    assert [v.rule for v in emu.rate_violations] == ["per_chat"]
    assert not emu.rate_violations[0].enforced
    emu.enforce_limits(per_chat_per_s=1, global_per_s=30, group_per_min=2)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "3")
    assert caught.value.retry_after == dtm.timedelta(seconds=1)
    await bot.send_message(GROUP, "g1")
    emu.enforce_limits(per_chat_per_s=100, global_per_s=30, group_per_min=2)
    await bot.send_message(GROUP, "g2")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(GROUP, "g3")
    assert caught.value.retry_after.total_seconds() > 50  # type: ignore[union-attr]
    assert [m.text for m in emu.sent] == ["1", "2", "g1", "g2"]


@pytest.mark.parametrize(
    ("algorithm", "allowed_after_half_second"), [("window", False), ("bucket", True)]
)
async def test_rate_limit_algorithms(
    bot: Bot, emu: BotApiEmulator, algorithm: str, allowed_after_half_second: bool
) -> None:
    now = [1000.0]
    emu.rate_clock = lambda: now[0]
    emu.enforce_limits(per_chat_per_s=2, algorithm=algorithm)
    await bot.send_message(CHAT, "1")
    await bot.send_message(CHAT, "2")
    with pytest.raises(RetryAfter):
        await bot.send_message(CHAT, "3")
    now[0] += 0.5  # a bucket of 2/s has drained one send; a 1 s window has not
    if allowed_after_half_second:
        await bot.send_message(CHAT, "4")
    else:
        with pytest.raises(RetryAfter):
            await bot.send_message(CHAT, "4")
    assert [v.rule for v in emu.rate_violations] == ["per_chat"] * (2 - allowed_after_half_second)


def test_sync_emulator_form_and_get_requests() -> None:
    # Plain clients from a synchronous test: GET with a query string, form posts; the answer
    # shapes stay Telegram's.
    with emulator() as emu:
        emu.add_chat(CHAT)
        url = f"{emu.base_url}{emu.token}"
        with urllib.request.urlopen(f"{url}/getMe") as resp:
            assert json.load(resp)["result"]["username"] == emu.username
        body = f"chat_id={CHAT}&text=a%20%26amp%3B%20b&parse_mode=HTML".encode()
        request = urllib.request.Request(f"{url}/sendMessage", data=body)
        with urllib.request.urlopen(request) as resp:
            assert json.load(resp)["result"]["text"] == "a & b"
        assert emu.wait_sent_blocking(1)[0].text == "a &amp; b"
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(f"{url}/noSuchMethod")
        assert caught.value.code == 404
        assert json.load(caught.value) == {
            "ok": False,
            "error_code": 404,
            "description": "Not Found",
        }
        caught.value.close()


async def test_outage_cuts_a_pending_long_poll(bot: Bot, emu: BotApiEmulator) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await emu.wait_for(lambda: len(emu.calls_to("getUpdates")) == 1, what="the poll")
    await asyncio.to_thread(emu.set_down, True)
    with pytest.raises(NetworkError):
        await poll
    emu.set_down(False)
    assert await bot.get_updates(timeout=0) == ()


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_escaped_text_always_parses_back(text: str) -> None:
    # What the bot relies on: html.escape(feed text) is always accepted and shown verbatim.
    assert parse_html(html.escape(text, quote=False))[0] == text
    assert parse_html(f"<b>{html.escape(text)}</b>")[0] == text


# ---- PTB's Application, polling


async def test_application_answers_ping_by_polling(emu: BotApiEmulator) -> None:
    async def ping(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("pong")

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("ok")

    app = (
        ApplicationBuilder()
        .token(emu.token)
        .base_url(emu.base_url)
        .base_file_url(emu.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("ping", ping))
    app.add_handler(CallbackQueryHandler(pressed))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=1))
        emu.push_message(CHAT, USER, "/ping")
        emu.push_message(GROUP, USER, "/ping@thesiswatch_test_bot")
        emu.push_message(GROUP, USER, "/ping@some_other_bot")  # not for us: ignored
        sent = await emu.wait_sent(2)
        emu.push_callback(CHAT, USER, sent[0].message_id, "ack:1")
        await emu.wait_for(lambda: len(emu.callback_answers) == 1, what="the button answer")
        await app.updater.stop()
        await app.stop()
    assert sorted((m.chat_id, m.text) for m in emu.sent) == [(GROUP, "pong"), (CHAT, "pong")]
    assert emu.callback_answers[0].text == "ok"
    # Stopping confirmed every fetched update, so a restart would not see them again.
    assert emu.pending_updates == []
    assert {c.method for c in emu.calls} >= {"getMe", "deleteWebhook", "getUpdates"}
