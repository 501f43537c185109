"""From stored items to alerts: the running rule set, evaluation, the board, the outbox."""
