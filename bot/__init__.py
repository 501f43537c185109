"""thesiswatch: the application that wires rules/ and storage/ to feeds, the CLI and Telegram."""

import os

# PTB 22 warns on every RetryAfter unless told to use timedelta; we handle a 429 ourselves.
os.environ.setdefault("PTB_TIMEDELTA", "true")
