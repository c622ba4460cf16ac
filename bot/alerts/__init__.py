"""Instant alerts through Apprise: ``settings`` is the [[alerts]] config section, ``send`` finds
the events and sends each alert once (see its docstring)."""
