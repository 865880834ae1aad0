"""The web dashboard: functions, workflows, topics, actors and bindings of a running app.

- `app.py`: `create_dashboard(targets, token=...)`, the ASGI app (a static vanilla-JS page in
  `static/`, shipped as package data, plus a JSON API under `/api/`);
- `_sources.py`: what it reads and does, from the app (`/functions`, `/metrics`) and its sidecar
  (metadata, the Dapr workflow API, TaskHub history, the embedded sidecar's `/funchost/v1/...`);
- `_timeline.py`: a workflow history as bars, on top of `funchost.observability.timeline`;
- `server.py`: served in a thread by `funchost run`, or alone by `funchost dashboard`;
- `cli.py`: the `dashboard` and `deadletters` commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._sources import Targets
    from .app import create_dashboard

__all__ = ["Targets", "create_dashboard"]


def __getattr__(name: str) -> Any:
    # lazy: `funchost --help` imports `dashboard.cli`, which must not pull in the web stack
    if name == "Targets":
        from ._sources import Targets

        return Targets
    if name == "create_dashboard":
        from .app import create_dashboard

        return create_dashboard
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
