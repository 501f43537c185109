"""Text and charts shared by the CLI and the chat."""
