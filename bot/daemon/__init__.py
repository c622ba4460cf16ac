"""The daemon: scheduler wiring (``schedule``) and process concerns (``process``: lock, heartbeat, run log)."""
