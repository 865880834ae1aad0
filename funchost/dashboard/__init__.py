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

from ._sources import Targets
from .app import create_dashboard

__all__ = ["Targets", "create_dashboard"]
