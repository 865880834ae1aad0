"""Bindings: cron input, local input feeding, and output bindings (localstorage, http, outbox).

Input: after the app is up, each input-capable binding is probed with `OPTIONS /<route>` (2xx or
405 = the app listens; 404 = it does not; a gRPC app lists them in `ListInputBindings` and gets
`OnBindingEvent`, see app_channel/). `bindings.cron` then fires `POST /<route>` on its
schedule, on the sidecar clock. Any binding can be fed locally: `await bindings.feed(name, data)`,
or `POST /funchost/v1/bindings/<name>` (what `funchost send binding NAME DATA` calls); the app's
status and body are returned. Output (`/v1.0/bindings/<name>`, gRPC InvokeBinding):
`bindings.localstorage` (create/get/list/delete files under `rootPath`), `bindings.http`
(get/post/put/patch/delete/head/options, `create` = POST), any other type is recorded in the local
outbox (outbox.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import outbox
from ._errors import DaprApiError
from .app_channel import AppResponse, AppUnavailable
from .component import Component, ComponentError
from .components import ResourcesSubsystem
from .http_api import api, json_body, json_response, query_metadata
from .subsystem import Runtime, Subsystem
from .timeformats import Schedule

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger("funchost.sidecar.bindings")

OUTPUT_ONLY = ("bindings.localstorage", "bindings.http")
_HTTP_VERBS = ("get", "post", "put", "patch", "delete", "head", "options", "trace")


def _err(message: str, code: str = "ERR_INVOKE_OUTPUT_BINDING", status: int = 500) -> DaprApiError:
    return DaprApiError(status, code, message, grpc.StatusCode.INTERNAL)


def _may_be_input(comp: Component) -> bool:
    """daprd: a binding whose `direction` metadata is set but lacks `input` is output-only."""
    direction = comp.meta("direction")
    return not direction or "input" in [d.strip().lower() for d in direction.split(",")]


class BindingsSubsystem(Subsystem):
    """Input and output bindings of the embedded sidecar."""

    name = "bindings"

    def __init__(self, sidecar: Runtime, resources: ResourcesSubsystem) -> None:
        super().__init__(sidecar)
        self.components: dict[str, Component] = {c.name: c for c in resources.of_kind("bindings")}
        self.schedules: dict[str, Schedule] = {}
        for comp in self.components.values():
            if comp.type == "bindings.cron":
                schedule = comp.meta("schedule")
                if not schedule:
                    raise ComponentError(
                        f"{comp.source}: Component {comp.name!r}: spec.metadata.schedule: missing "
                        "(e.g. '@every 15s' or '*/5 * * * *')"
                    )
                try:
                    self.schedules[comp.name] = Schedule.parse(schedule)
                except ValueError as exc:
                    raise ComponentError(
                        f"{comp.source}: Component {comp.name!r}: spec.metadata.schedule: {exc}"
                    ) from None
            elif comp.type == "bindings.localstorage" and not comp.meta("rootPath"):
                raise ComponentError(
                    f"{comp.source}: Component {comp.name!r}: spec.metadata.rootPath: missing "
                    "(the folder files are written to)"
                )
            elif comp.type == "bindings.http" and not comp.meta("url"):
                raise ComponentError(
                    f"{comp.source}: Component {comp.name!r}: spec.metadata.url: missing"
                )
        self.listening: set[str] = set()
        self._next: dict[str, float] = {}
        self._anchor = 0.0
        self._wake = asyncio.Event()
        self._firing = 0
        self._http: aiohttp.ClientSession | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def route_of(self, name: str) -> str:
        route = self.components[name].meta("route") or name
        return route if route.startswith("/") else "/" + route

    async def on_app_ready(self) -> None:
        routes = {
            name: self.route_of(name)
            for name, comp in self.components.items()
            if comp.type not in OUTPUT_ONLY and _may_be_input(comp)
        }
        self.listening = await self.sidecar.app.input_bindings(routes)
        now = self.sidecar.clock.time()
        self._anchor = now
        self._next = {
            name: sched.next_after(now, now)
            for name, sched in self.schedules.items()
            if name in self.listening
        }
        if self._next:
            log.info("cron bindings: %s", ", ".join(sorted(self._next)))
        self._wake = asyncio.Event()
        self.sidecar.spawn(self._cron_loop(self._wake))

    async def quiesce(self) -> None:
        """Fire no more cron bindings."""
        self._next = {}
        self._wake.set()

    async def stop(self) -> None:
        await self.quiesce()
        if self._http is not None:
            await self._http.close()

    def busy(self) -> bool:
        now = self.sidecar.clock.time()
        return self._firing > 0 or any(due <= now for due in self._next.values())

    async def _cron_loop(self, wake: asyncio.Event) -> None:
        clock = self.sidecar.clock
        while wake is self._wake and not self.sidecar.stopping:
            wake.clear()
            now = clock.time()
            for name, due in sorted(self._next.items(), key=lambda kv: kv[1]):
                if due <= now:
                    self._next[name] = self.schedules[name].next_after(now, self._anchor)
                    self._firing += 1
                    try:
                        await self._fire_cron(name, due)
                    finally:
                        self._firing -= 1
            if wake is not self._wake:
                return
            deadline = min(self._next.values()) if self._next else clock.time() + 3600
            await clock.sleep_until(deadline, wake=wake)

    async def _fire_cron(self, name: str, due: float) -> None:
        from .timeformats import format_rfc3339

        if not self.sidecar.app.ready.is_set():
            return  # the app is unhealthy: daprd stops input bindings

        meta = {"readTimeUTC": format_rfc3339(due), "timeZone": "UTC"}
        try:
            resp = await self.deliver(name, b"", meta)
        except AppUnavailable as exc:
            log.warning("cron binding %s: app unreachable: %s", name, exc)
            return
        if not 200 <= resp.status < 300:
            log.warning("cron binding %s: app answered %s", name, resp.status)

    # -- input ----------------------------------------------------------------------------------
    async def deliver(self, name: str, data: bytes, metadata: dict[str, str]) -> AppResponse:
        """One input event to the app (HTTP: POST /<route>; gRPC: OnBindingEvent)."""
        resp = await self.sidecar.app.deliver_binding(name, self.route_of(name), data, metadata)
        if resp.binding_to:
            await self._forward(name, resp)
        return resp

    async def _forward(self, name: str, resp: AppResponse) -> None:
        """daprd's `sendBindingEventToApp`: the reply's `data` (JSON, else null) goes to each
        `to` output binding with operation `create`; SEQUENTIAL stops at the first error,
        PARALLEL does not wait."""
        try:
            value = json.loads(resp.body) if resp.body else None
        except ValueError:
            value = None
        payload = json.dumps(value, separators=(",", ":")).encode()

        async def send(target: str) -> None:
            await self.invoke(target, "create", payload, {})

        for target in resp.binding_to:
            if resp.binding_parallel:
                self.sidecar.spawn(send(target))
                continue
            try:
                await send(target)
            except Exception as exc:
                log.error("input binding %s: sending its reply to %s failed: %s", name, target, exc)
                return

    async def feed(
        self, name: str, data: bytes, metadata: dict[str, str] | None = None
    ) -> AppResponse:
        """Deliver `data` to the app as if binding `name` had received it."""
        if name not in self.components:
            raise DaprApiError(
                404,
                "ERR_INPUT_BINDING_NOT_FOUND",
                f"binding {name} is not defined: add a bindings Component named {name!r}",
                grpc.StatusCode.NOT_FOUND,
            )
        try:
            return await self.deliver(name, data, metadata or {})
        except AppUnavailable as exc:
            raise DaprApiError(
                502, "ERR_APP_UNAVAILABLE", str(exc), grpc.StatusCode.UNAVAILABLE
            ) from None

    # -- output ---------------------------------------------------------------------------------
    async def invoke(
        self, name: str, operation: str, data: bytes, metadata: dict[str, str]
    ) -> tuple[bytes, dict[str, str]]:
        """Run an output binding operation; returns (data, metadata)."""
        comp = self.components.get(name)
        if comp is None:
            raise _err(f"error invoking output binding {name}: binding {name} not found")
        if comp.type == "bindings.localstorage":
            return self._localstorage(comp, operation, data, metadata)
        if comp.type == "bindings.http":
            return await self._http_call(comp, operation, data, metadata)
        if comp.type == "bindings.cron":
            raise _err(f"error invoking output binding {name}: bindings.cron has no operations")
        oid = outbox.record(
            self.sidecar.store,
            name,
            comp.type,
            operation,
            data,
            metadata,
            self.sidecar.clock.time(),
        )
        log.info(
            "output binding %s (%s) %s recorded in the outbox (#%s)",
            name,
            comp.type,
            operation,
            oid,
        )
        return b"", {"outboxId": str(oid)}

    def _file(self, comp: Component, metadata: dict[str, str], required: bool = True) -> Path:
        root = Path(comp.meta("rootPath") or ".").resolve()
        name = metadata.get("fileName") or ""
        if not name:
            if required:
                raise _err(f"binding {comp.name}: metadata fileName is required")
            name = str(uuid.uuid4())
        path = (root / name).resolve()
        if root != path and root not in path.parents:
            raise _err(f"binding {comp.name}: fileName {name!r} escapes rootPath")
        return path

    def _localstorage(
        self, comp: Component, op: str, data: bytes, metadata: dict[str, str]
    ) -> tuple[bytes, dict[str, str]]:
        root = Path(comp.meta("rootPath") or ".").resolve()
        if op == "create":
            path = self._file(comp, metadata, required=False)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            name = str(path.relative_to(root))
            return json.dumps({"fileName": name}).encode(), {"fileName": name}
        if op == "get":
            path = self._file(comp, metadata)
            if not path.is_file():
                raise _err(f"binding {comp.name}: file {metadata.get('fileName')} not found")
            return path.read_bytes(), {}
        if op == "list":
            files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
            return json.dumps(files).encode(), {}
        if op == "delete":
            path = self._file(comp, metadata)
            path.unlink(missing_ok=True)
            return b"", {}
        raise _err(
            f"binding {comp.name}: operation {op!r} not supported (create, get, list, delete)",
            status=400,
        )

    async def _http_call(
        self, comp: Component, op: str, data: bytes, metadata: dict[str, str]
    ) -> tuple[bytes, dict[str, str]]:
        verb = "post" if op == "create" else op.lower()
        if verb not in _HTTP_VERBS:
            raise _err(f"binding {comp.name}: operation {op!r} not supported", status=400)
        url = (comp.meta("url") or "").rstrip("/")
        path = metadata.get("path", "")
        if path:
            url = url + "/" + path.lstrip("/")
        headers = {k: v for k, v in metadata.items() if k != "path" and k.isascii() and v.isascii()}
        import aiohttp  # on first use: most sidecars have no HTTP output binding

        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        try:
            async with self._http.request(
                verb.upper(), url, data=data or None, headers=headers
            ) as r:
                body = await r.read()
                status = r.status
                resp_meta = {
                    "statusCode": str(status),
                    "status": f"{status} {r.reason or ''}".strip(),
                }
                resp_meta.update({k: v for k, v in r.headers.items()})
        except aiohttp.ClientError as exc:
            raise _err(f"binding {comp.name}: {verb.upper()} {url} failed: {exc}") from None
        if status >= 400:
            raise _err(f"binding {comp.name}: received status code {status} from {url}")
        return body, resp_meta

    # -- HTTP API -------------------------------------------------------------------------------
    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1.0/bindings/{name}", self._http_invoke, methods=["POST", "PUT"]),
            Route("/funchost/v1/bindings/{name}", self._http_feed, methods=["POST"]),
            Route("/funchost/v1/outbox", self._http_outbox, methods=["GET"]),
        ]

    @api
    async def _http_invoke(self, request: Request) -> Response:
        body = await json_body(request) or {}
        data = json.dumps(body.get("data")).encode()  # daprd JSON-encodes `data` (strings too)
        meta = {str(k): str(v) for k, v in (body.get("metadata") or {}).items()}
        out, resp_meta = await self.invoke(
            request.path_params["name"], str(body.get("operation") or ""), data, meta
        )
        headers = {f"metadata.{k}": v for k, v in resp_meta.items() if k.isascii() and v.isascii()}
        return Response(out, status_code=200, headers=headers)

    @api
    async def _http_feed(self, request: Request) -> Response:
        resp = await self.feed(
            request.path_params["name"], await request.body(), query_metadata(request)
        )
        ctype = resp.headers.get("content-type") or resp.headers.get("Content-Type") or "text/plain"
        return Response(resp.body, status_code=resp.status, media_type=ctype)

    @api
    async def _http_outbox(self, request: Request) -> Response:
        return json_response(
            outbox.list_outbox(self.sidecar.store, request.query_params.get("binding"))
        )
