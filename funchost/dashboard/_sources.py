"""What the dashboard reads and does, from the running app and its sidecar.

The app: `/functions`, `/metrics`, `/_funchost/recent` (what `funchost status` reads). The
sidecar: `/v1.0/metadata`, the Dapr workflow HTTP API (`/v1.0/workflows/dapr/...`), the
TaskHub `GetInstanceHistory` gRPC call (what `funchost workflow history` reads) and the embedded
sidecar's `/funchost/v1/...` inspection routes. Every failure becomes a `SourceError` carrying
an HTTP status and a message fit for the page (never a traceback).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from funchost.observability.plugin import RECENT_PATH
from funchost.observability.status import parse_metrics

from ._timeline import timeline_document

if TYPE_CHECKING:
    import httpx

__all__ = ["SourceError", "Sources", "Targets"]

#: Workflow actions the instance page offers, and the Dapr HTTP workflow API verb of each.
ACTIONS = {
    "terminate": "terminate",
    "suspend": "pause",
    "resume": "resume",
    "purge": "purge",
    "raise": "raiseEvent",
}
_CHILD_DEPTH = 3
#: Overview samples kept per function for its chart (one per read, at least 2 s apart).
SAMPLES_KEPT = 60
SAMPLE_EVERY = 2.0


class SourceError(Exception):
    """A read or an action that failed; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class Targets:
    """Where the app and its sidecar listen, and the tokens they expect."""

    app_url: str
    sidecar_url: str
    grpc_address: str
    api_token: str | None = None
    app_token: str | None = None


class _NoFunctions(Exception):
    """The app is not a funchost functions app (no `/functions`): its sidecar's views only."""


def _seg(text: str) -> str:
    return quote(text, safe="")


class Sources:
    """Async reads and actions against one app and its sidecar."""

    def __init__(self, targets: Targets) -> None:
        self.targets = targets
        self._client: httpx.AsyncClient | None = None
        # (time, {function: (invocations, failures)}) at each overview read, for the charts
        self.samples: deque[tuple[float, dict[str, tuple[float, float]]]] = deque(
            maxlen=SAMPLES_KEPT
        )

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(timeout=10.0)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- plumbing ----------------------------------------------------------------------------
    async def _call(
        self,
        method: str,
        base: str,
        path: str,
        *,
        token: str | None,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = dict(headers or {})
        if token:
            sent["dapr-api-token"] = token
        url = base.rstrip("/") + path
        import httpx

        try:
            return await self.client.request(
                method, url, params=params, content=content, headers=sent
            )
        except httpx.HTTPError as exc:
            what = "app" if base == self.targets.app_url else "sidecar"
            raise SourceError(
                502,
                f"no {what} answers at {base} ({exc.__class__.__name__}): is `funchost run` up? "
                f"(`funchost dashboard` takes --app-url / --dapr-http-port)",
            ) from None

    async def sidecar(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """Call the sidecar; a Dapr error reply becomes a `SourceError` with its message."""
        resp = await self._call(
            method,
            self.targets.sidecar_url,
            path,
            token=self.targets.api_token,
            params=params,
            content=content,
            headers=headers,
        )
        if resp.status_code >= 400:
            message, code = resp.text.strip() or resp.reason_phrase, ""
            try:
                doc = resp.json()
                message, code = str(doc.get("message") or message), str(doc.get("errorCode", ""))
            except ValueError:
                pass
            if resp.status_code == 404 and path.startswith("/funchost/"):
                message = (
                    f"the sidecar at {self.targets.sidecar_url} has no {path.split('?')[0]}: "
                    "this view needs funchost's embedded sidecar (`funchost run`)"
                )
            raise SourceError(resp.status_code, message, code)
        return resp

    async def _sidecar_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return (await self.sidecar("GET", path, params=params)).json()

    # -- overview ----------------------------------------------------------------------------
    async def overview(self) -> dict[str, Any]:
        """Functions with their figures, recent invocations, sidecar queues; unreachable parts
        are listed in `errors`."""
        out: dict[str, Any] = {"app_id": "", "functions": [], "recent": [], "errors": []}
        out["targets"] = {"app": self.targets.app_url, "sidecar": self.targets.sidecar_url}
        app, token = self.targets.app_url, self.targets.app_token
        try:
            if not app:
                raise _NoFunctions("this app's sidecar names no HTTP app port")
            functions = await self._call("GET", app, "/functions", token=token)
            if functions.status_code == 404:
                raise _NoFunctions(f"the app at {app} has no /functions")
            if functions.status_code >= 400:
                raise SourceError(
                    functions.status_code,
                    f"the app at {app} answered {functions.status_code} to /functions",
                )
            doc = functions.json()
            if not isinstance(doc, dict) or "functions" not in doc:
                raise _NoFunctions(f"the app at {app} lists no functions at /functions")
            metrics, recent = await asyncio.gather(
                self._call("GET", app, "/metrics", token=token),
                self._call("GET", app, RECENT_PATH, token=token, params={"limit": 30}),
            )
            stats, workflow_counts = parse_metrics(metrics.text)
            out["app_id"] = str(doc.get("app_id", ""))
            for fn in doc.get("functions", []):
                name = str(fn.get("name", ""))
                st = stats.get(name, {})
                trigger = str(fn.get("trigger", ""))
                if not st and fn.get("kind") == "actor" and len(trigger.split()) > 1:
                    st = stats.get(trigger.split()[1], {})  # actor calls are labelled by type
                out["functions"].append({**fn, "stats": st})
            out["workflowRuns"] = workflow_counts
            if recent.status_code == 200:
                out["recent"] = list(recent.json().get("invocations", []))
        except _NoFunctions as exc:  # any-language app next to a `funchost sidecar`
            out["notes"] = [f"not a funchost functions app ({exc}): its sidecar's views only"]
        except SourceError as exc:
            out["errors"].append(exc.message)
        except ValueError as exc:
            out["errors"].append(f"the app at {app} answered something unreadable: {exc}")
        try:
            meta = await self._sidecar_json("/v1.0/metadata")
            out["sidecar"] = meta.get("funchost") or {}
            out["components"] = meta.get("components") or []
            out["actors"] = meta.get("actors") or []
            out["app_id"] = out["app_id"] or str(meta.get("id", ""))
        except SourceError as exc:
            out["errors"].append(exc.message)
        try:  # only the embedded sidecar keeps dead letters
            dead = await self._sidecar_json("/funchost/v1/deadletters", {"limit": 1})
            out["deadLetters"] = dead.get("total")
        except SourceError:
            out["deadLetters"] = None
        out["now"] = datetime.now(UTC).timestamp()
        out["series"] = self._sample(out["functions"])
        return out

    def _sample(self, functions: list[dict[str, Any]]) -> dict[str, list[list[float]]]:
        """Record the counters (at most every SAMPLE_EVERY s); per function, the calls and
        failures in each interval between kept samples: [[time, calls, failures], ...]."""
        now = time.time()
        if functions and (not self.samples or now - self.samples[-1][0] >= SAMPLE_EVERY):
            self.samples.append(
                (
                    now,
                    {
                        str(fn["name"]): (
                            float(fn["stats"].get("invocations", 0.0)),
                            float(fn["stats"].get("failures", 0.0)),
                        )
                        for fn in functions
                    },
                )
            )
        series: dict[str, list[list[float]]] = {}
        for (_, before), (t, after) in pairwise(self.samples):
            for name, (calls, failures) in after.items():
                was = before.get(name, (calls, failures))
                # a restarted app starts its counters again: count from zero then
                delta_calls = calls - was[0] if calls >= was[0] else calls
                delta_failures = failures - was[1] if failures >= was[1] else failures
                series.setdefault(name, []).append([round(t, 3), delta_calls, delta_failures])
        return series

    # -- workflows ---------------------------------------------------------------------------
    async def workflows(self, status: str, search: str, offset: int, limit: int) -> Any:
        params = {"status": status, "q": search, "offset": offset, "limit": limit}
        return await self._sidecar_json("/funchost/v1/workflows", params)

    async def instance(self, instance_id: str) -> dict[str, Any]:
        """The instance's state (Dapr HTTP API) and its history as a timeline."""
        doc = await self._sidecar_json(f"/v1.0/workflows/dapr/{_seg(instance_id)}")
        doc["timeline"] = await self._timeline(instance_id, _CHILD_DEPTH)
        return dict(doc)

    async def _timeline(self, instance_id: str, depth: int) -> dict[str, Any]:
        events = await asyncio.to_thread(self._history, instance_id)
        doc = timeline_document(events, datetime.now(UTC))
        if depth > 1:
            for bar in doc["bars"]:
                child = bar.get("childInstanceId")
                if child:
                    try:
                        bar["child"] = await self._timeline(child, depth - 1)
                    except SourceError as exc:
                        bar["child"] = {"error": exc.message}
        return doc

    def _history(self, instance_id: str) -> list[Any]:
        import grpc
        from dapr.ext.workflow._durabletask.internal import orchestrator_service_pb2 as pb
        from dapr.ext.workflow._durabletask.internal import (
            orchestrator_service_pb2_grpc as pb_grpc,
        )

        metadata = [("dapr-api-token", self.targets.api_token)] if self.targets.api_token else []
        try:
            with grpc.insecure_channel(self.targets.grpc_address) as channel:
                stub = pb_grpc.TaskHubSidecarServiceStub(channel)
                request = pb.GetInstanceHistoryRequest(instanceId=instance_id)
                reply = stub.GetInstanceHistory(request, metadata=metadata, timeout=10)
                return list(reply.events)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            status = 404 if code == grpc.StatusCode.NOT_FOUND else 502
            details = exc.details() if hasattr(exc, "details") else str(exc)
            raise SourceError(
                status,
                f"history of {instance_id!r} via gRPC {self.targets.grpc_address}: {details}",
            ) from None

    async def workflow_action(
        self, instance_id: str, action: str, event: str = "", data: str = ""
    ) -> None:
        """terminate | suspend | resume | purge | raise (event `event` with JSON `data`)."""
        verb = ACTIONS.get(action)
        if verb is None:
            raise SourceError(400, f"unknown action {action!r}: use one of {', '.join(ACTIONS)}")
        path = f"/v1.0/workflows/dapr/{_seg(instance_id)}/{verb}"
        body = None
        if action == "raise":
            if not event.strip():
                raise SourceError(400, "name the event to raise")
            path += f"/{_seg(event.strip())}"
            if data.strip():
                try:
                    json.loads(data)
                except ValueError as exc:
                    raise SourceError(400, f"the event data is not JSON: {exc}") from None
                body = data.encode()
        if action != "purge":  # the HTTP API answers 202 for a finished instance: say so
            state = await self._sidecar_json(f"/v1.0/workflows/dapr/{_seg(instance_id)}")
            status = state.get("runtimeStatus")
            if status in ("COMPLETED", "FAILED", "TERMINATED"):
                raise SourceError(409, f"workflow {instance_id!r} is {status}: nothing to {action}")
        await self.sidecar("POST", path, content=body, headers={"content-type": "application/json"})

    # -- pub/sub -----------------------------------------------------------------------------
    async def topics(self) -> dict[str, Any]:
        topics, dead = await asyncio.gather(
            self._sidecar_json("/funchost/v1/topics"),
            self._sidecar_json("/funchost/v1/deadletters"),
        )
        return {**topics, "deadLetters": dead.get("deadLetters", [])}

    async def redrive(self, dead_letter_id: int) -> Any:
        resp = await self.sidecar("POST", f"/funchost/v1/deadletters/{dead_letter_id}/redrive")
        return resp.json()

    async def discard(self, dead_letter_id: int) -> None:
        await self.sidecar("DELETE", f"/funchost/v1/deadletters/{dead_letter_id}")

    # -- actors, bindings --------------------------------------------------------------------
    async def actors(self) -> Any:
        return await self._sidecar_json("/funchost/v1/actors")

    async def bindings(self) -> dict[str, Any]:
        meta, outbox = await asyncio.gather(
            self._sidecar_json("/v1.0/metadata"),
            self._sidecar_json("/funchost/v1/outbox"),
        )
        components = [
            c
            for c in meta.get("components") or []
            if str(c.get("type", "")).startswith("bindings.")
        ]
        return {"components": components, "outbox": list(reversed(outbox))}

    async def send_binding(self, name: str, data: str) -> dict[str, Any]:
        resp = await self.sidecar(
            "POST",
            f"/funchost/v1/bindings/{_seg(name)}",
            content=data.encode(),
            headers={"content-type": "application/json"},
        )
        return {"status": resp.status_code, "body": resp.text}
