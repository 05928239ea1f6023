"""The service's Flask class: Flask, with each hook's and view's sync-or-async check made once.

Flask asks ``ensure_sync(func)`` of every before/after/teardown hook and view on every request,
and each answer walks ``inspect.iscoroutinefunction``: a dozen checks a request, the same answer
every time (about 5% of a cached ``GET /plans``). Flask documents ``ensure_sync`` as the method to
override; this one remembers each function's answer. The functions asked about are the app's own
hooks and views, a fixed set, so the memo stays as small as the app.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask


class ServiceFlask(Flask):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._synced: dict[Callable[..., Any], Callable[..., Any]] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._synced[func]
        except KeyError:
            synced = self._synced[func] = super().ensure_sync(func)
            return synced
        except TypeError:  # an unhashable callable: ask Flask every time
            return super().ensure_sync(func)
