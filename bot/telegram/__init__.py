"""The Telegram side: commands and buttons, delivery from the outbox, HTML rendering."""
