"""Running it: metrics, /healthz, logs, the polling leader, retention."""
