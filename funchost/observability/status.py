"""`funchost status`: one view of a running app and its sidecar.

`gather()` reads the app's `/functions`, `/metrics` and `/_funchost/recent`, and the sidecar's
`/v1.0/metadata` (its `funchost` section: queues, in-flight workflows, due reminders);
`render_status()` turns that snapshot into rich tables. Anything unreachable is reported, not
fatal, so the view also works against a real daprd (fewer sidecar details) or an app alone.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.text import Text

from .plugin import RECENT_PATH

if TYPE_CHECKING:
    import httpx
    from rich.table import Table

__all__ = ["Snapshot", "gather", "render_status"]

_COUNTERS = {
    "funchost_function_invocations_total": "invocations",
    "funchost_function_failures_total": "failures",
    "funchost_function_retries_total": "retries",
    "funchost_function_drops_total": "drops",
    "funchost_function_dead_letters_total": "dead_letters",
    "funchost_function_in_flight": "in_flight",
    "funchost_function_duration_seconds_sum": "seconds",
}


@dataclass
class Snapshot:
    """What `funchost status` shows, read at `taken` (epoch seconds)."""

    app_url: str
    sidecar_url: str
    taken: float = field(default_factory=time.time)
    app_id: str = ""
    functions: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, dict[str, float]] = field(default_factory=dict)
    workflow_counts: dict[str, dict[str, float]] = field(default_factory=dict)
    recent: list[dict[str, Any]] = field(default_factory=list)
    sidecar: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


def parse_metrics(text: str) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """(per-function figures, per-workflow starts/completions/failures) from `/metrics` text."""
    from prometheus_client.parser import text_string_to_metric_families  # at the first scrape

    stats: dict[str, dict[str, float]] = {}
    workflows: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = _COUNTERS.get(s.name)
            if key is not None and "function" in s.labels:
                stats.setdefault(s.labels["function"], {})[key] = s.value
            elif s.name.startswith("funchost_workflow_") and s.name.endswith("_total"):
                what = s.name[len("funchost_workflow_") : -len("_total")]
                workflows.setdefault(s.labels.get("workflow", "?"), {})[what] = s.value
    return stats, workflows


def gather(
    app_url: str,
    sidecar_url: str,
    *,
    api_token: str | None = None,
    app_token: str | None = None,
    client: httpx.Client | None = None,
) -> Snapshot:
    """Read everything `funchost status` shows; unreachable parts land in `errors`."""
    import httpx

    snap = Snapshot(app_url.rstrip("/"), sidecar_url.rstrip("/"))
    http = client or httpx.Client(timeout=5.0)
    app_headers = {"dapr-api-token": app_token} if app_token else {}
    try:
        doc = http.get(f"{snap.app_url}/functions", headers=app_headers).json()
        snap.app_id = str(doc.get("app_id", ""))
        snap.functions = list(doc.get("functions", []))
        snap.stats, snap.workflow_counts = parse_metrics(
            http.get(f"{snap.app_url}/metrics", headers=app_headers).text
        )
        resp = http.get(f"{snap.app_url}{RECENT_PATH}", headers=app_headers)
        if resp.status_code == 200:
            snap.recent = list(resp.json().get("invocations", []))
    except (httpx.HTTPError, ValueError) as exc:
        snap.errors.append(f"app at {snap.app_url}: {exc}")
    try:
        headers = {"dapr-api-token": api_token} if api_token else {}
        snap.sidecar = http.get(f"{snap.sidecar_url}/v1.0/metadata", headers=headers).json()
    except (httpx.HTTPError, ValueError) as exc:
        snap.errors.append(f"sidecar at {snap.sidecar_url}: {exc}")
    if client is None:
        http.close()
    return snap


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.0f}d"


def _n(value: float | None) -> str:
    return "" if not value else f"{value:.0f}"


def _table(title: str, left: Iterable[str], right: Iterable[str] = ()) -> Table:
    """A titled table: `left` columns, then right-aligned (figure) `right` columns."""
    from rich.table import Table  # `funchost status` only: not loaded by the dashboard

    table = Table(title=title, title_justify="left")
    for col in left:
        table.add_column(col)
    for col in right:
        table.add_column(col, justify="right")
    return table


def _functions_table(snap: Snapshot) -> Table:
    table = _table(
        "functions",
        ("kind", "name", "trigger"),
        ("calls", "failed", "retried", "dropped", "DLQ", "now", "avg"),
    )
    for fn in snap.functions:
        name = str(fn.get("name", ""))
        st = snap.stats.get(name, {})
        trigger = str(fn.get("trigger", ""))
        if not st and fn.get("kind") == "actor" and len(trigger.split()) > 1:
            st = snap.stats.get(trigger.split()[1], {})  # actor calls are labelled by type
        calls = st.get("invocations", 0.0)
        avg = f"{st.get('seconds', 0.0) / calls * 1000:.1f} ms" if calls else ""
        failed = _n(st.get("failures"))
        table.add_row(
            str(fn.get("kind", "")),
            name,
            str(fn.get("trigger", "")),
            _n(calls),
            Text(failed, style="red") if failed else "",
            _n(st.get("retries")),
            _n(st.get("drops")),
            _n(st.get("dead_letters")),
            _n(st.get("in_flight")),
            avg,
        )
    return table


def _recent_table(rows: list[dict[str, Any]], title: str, now: float) -> Table:
    table = _table(title, ("ago", "function", "outcome", "took", "id", "try", "trace", "error"))
    for row in rows:
        outcome = str(row.get("outcome", ""))
        style = "green" if outcome == "success" and not row.get("error") else "red"
        table.add_row(
            _ago(now - float(row.get("time", now))),
            str(row.get("function", "")),
            Text(outcome, style=style),
            f"{float(row.get('seconds', 0.0)) * 1000:.1f} ms",
            str(row.get("id") or ""),
            str(row.get("attempt", "")),
            str(row.get("trace_id") or "")[:16],
            str(row.get("error") or ""),
        )
    return table


def render_status(snap: Snapshot, recent: int = 10) -> RenderableType:
    """The status view of a snapshot."""
    parts: list[RenderableType] = []
    title = f"[bold]{snap.app_id or '?'}[/]  app {snap.app_url}  sidecar {snap.sidecar_url}"
    parts.append(Text.from_markup(title + f"  [dim]{time.strftime('%H:%M:%S')}[/]"))
    for error in snap.errors:
        parts.append(Text(f"unreachable: {error}", style="yellow"))
    if snap.functions:
        parts.append(_functions_table(snap))
    if snap.recent:
        parts.append(_recent_table(snap.recent[:recent], "recent invocations", snap.taken))
        failures = [r for r in snap.recent if r.get("outcome") != "success" or r.get("error")]
        if failures:
            parts.append(_recent_table(failures[:recent], "recent failures", snap.taken))
    info: dict[str, Any] = snap.sidecar.get("funchost") or {}
    now = float(info.get("now", snap.taken))
    if info:
        queues = _table("sidecar queues", ("what",), ("count",))
        pending = sum(r["count"] for r in info.get("pendingDeliveries", []))
        for label, value in (
            ("pending deliveries", pending),
            ("deliveries waiting to retry", info.get("deliveryRetriesWaiting", 0)),
            ("dead letters waiting", sum(r["count"] for r in info.get("deadLetters", []))),
            ("reminders (due now)", f"{info.get('reminders', 0)} ({info.get('dueReminders', 0)})"),
            ("workflow activities pending", info.get("pendingActivities", 0)),
            ("workflow events pending", info.get("pendingOrchestrationEvents", 0)),
            ("workflow timers waiting", info.get("workflowTimersWaiting", 0)),
        ):
            queues.add_row(label, str(value))
        for status, count in sorted((info.get("workflows") or {}).items()):
            queues.add_row(f"workflows {status.lower()}", str(count))
        parts.append(queues)
        flows = info.get("inFlightWorkflows") or []
        if flows:
            table = _table(
                "workflows in flight", ("instance", "workflow", "status", "started", "last change")
            )
            for wf in flows:
                table.add_row(
                    wf["instanceId"],
                    wf["name"],
                    wf["status"],
                    _ago(now - wf["created"]) + " ago",
                    _ago(now - wf["updated"]) + " ago",
                )
            parts.append(table)
        dead = info.get("deadLetters") or []
        if dead:
            table = _table("dead letters", ("pubsub", "topic", "waiting"))
            for row in dead:
                table.add_row(row["pubsub"], row["topic"], str(row["count"]))
            parts.append(table)
        reminders = info.get("nextReminders") or []
        if reminders:
            table = _table("reminders", ("actor", "reminder", "due"))
            for r in reminders[:recent]:
                delta = r["due"] - now
                due = Text("due now", style="yellow") if delta <= 0 else f"in {_ago(delta)}"
                table.add_row(f"{r['actorType']}/{r['actorId']}", r["name"], due)
            parts.append(table)
    if snap.workflow_counts:
        table = _table(
            "workflow runs (this app)", ("workflow",), ("started", "completed", "failed")
        )
        for name, c in sorted(snap.workflow_counts.items()):
            table.add_row(
                name, _n(c.get("starts")), _n(c.get("completions")), _n(c.get("failures"))
            )
        parts.append(table)
    return Group(*parts)
