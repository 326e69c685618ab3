"""`engagectl serve`: the Profile API, the tracking API and the read-only Audiences API.

`create_app(project)` builds the FastAPI application (see `app.py`); it is imported lazily so
that `engagectl.server.tokens`, which the state store loads, stays free of web dependencies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engagectl.server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from engagectl.server.app import create_app

        return create_app
    raise AttributeError(name)
