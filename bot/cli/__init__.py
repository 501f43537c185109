"""The `thesiswatch` command line."""
