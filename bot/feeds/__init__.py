"""Feeds: the feeds file, fetching, parsing, normalising, polling and scheduling."""
