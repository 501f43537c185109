"""The Bot API emulator reads photo uploads through aiohttp's multipart reader, which calls
its own deprecated ``unread_data`` when a read ends just short of a part's boundary. Under
this suite's ``filterwarnings = error`` that turned an upload into a 500 one CI run in a few
(tests/test_digest.py); the warning is ignored by message in pyproject.toml."""

from __future__ import annotations

import asyncio
from unittest.mock import Mock

from aiohttp import StreamReader


async def test_aiohttps_own_unread_data_deprecation_is_no_error() -> None:
    # The only stand-in: StreamReader needs a protocol object for flow control.
    stream = StreamReader(Mock(), 2**16, loop=asyncio.get_running_loop())
    stream.feed_data(b"--boundary")
    head = await stream.read(4)
    stream.unread_data(head)  # what aiohttp.multipart does; must not raise under "error"
    assert await stream.read(10) == b"--boundary"
