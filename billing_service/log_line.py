"""What a request did, for its one log line (``web.request_log``): a layer below the web plumbing,
so that the domain can say it without importing HTTP code."""

from __future__ import annotations

from flask import g, has_request_context


def add(summary: str, fields: dict[str, str]) -> bool:
    """Put ``summary`` and its structured ``fields`` on the current request's log line; False
    outside a request, where the caller logs them on a line of its own."""
    if not has_request_context():
        return False
    g.log_summary, g.log_fields = summary, fields
    return True


def added() -> tuple[str | None, dict[str, str]]:
    """What :func:`add` put on this request's line: its summary (None) and fields."""
    return g.get("log_summary"), g.get("log_fields", {})
