"""The sidecar -> app HTTP channel (daprd's `pkg/channel/http`), `--app-protocol http`:
aiohttp for general calls, the lean `FastHttpPool` (fast_http.py) for the pub/sub hot path."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from google.protobuf import any_pb2, json_format, struct_pb2

from .fast_http import FastHttpPool
from .response import AppResponse, AppUnavailable

if TYPE_CHECKING:
    import aiohttp

    from .base import EventMessage, EventSubscription
    from .inproc import AsgiBridge

log = logging.getLogger("funchost.sidecar.app_channel")

_VALUE_URL = "type.googleapis.com/google.protobuf.Value"


def callback_body(data: any_pb2.Any) -> bytes:
    """What daprd POSTs to `/job/<name>` for the job's data."""
    if data.type_url == _VALUE_URL:
        value = struct_pb2.Value()
        data.Unpack(value)
        return json_format.MessageToJson(value, indent=None).encode()
    return bytes(data.value).strip()


class HttpAppChannel:
    """Calls the app on loopback, adding `dapr-api-token` when APP_API_TOKEN is set."""

    protocol = "http"
    empty_route_ok = False

    def __init__(
        self,
        port: int | None,
        host: str = "127.0.0.1",
        app_api_token: str | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.port = port
        self.host = host
        self.app_api_token = app_api_token
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None
        self._pool: FastHttpPool | None = None
        #: `funchost run`: the app in this process, called without the socket (inproc.py).
        self.bridge: AsgiBridge | None = None
        self.ready = asyncio.Event()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            import aiohttp  # on first use: a sidecar without an app never loads it

            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=256, force_close=False),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                auto_decompress=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | str | None = None,
        timeout: float | None = None,
    ) -> AppResponse:
        """Send one request to the app; raise AppUnavailable when it cannot be reached."""
        if self.port is None:
            raise AppUnavailable("no app port configured (--app-port)")
        hdrs = dict(headers or {})
        if self.app_api_token:
            hdrs["dapr-api-token"] = self.app_api_token
        url = self.base_url + (path if path.startswith("/") else "/" + path)
        if isinstance(params, str) and params:
            url = f"{url}?{params}"
            params = None
        import aiohttp

        try:
            async with self._client().request(
                method,
                url,
                data=body,
                headers=hdrs,
                params=params,  # type: ignore[arg-type]
                timeout=aiohttp.ClientTimeout(total=timeout or self.timeout),
            ) as resp:
                data = await resp.read()
                return AppResponse(resp.status, dict(resp.headers), data)
        except (aiohttp.ClientConnectionError, TimeoutError, OSError) as exc:
            raise AppUnavailable(f"app at {url} unreachable: {exc!r}") from exc

    async def fast_request(
        self,
        method: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float | None = None,
    ) -> AppResponse:
        """One request on the lean keep-alive pool (the hot paths: event delivery, actor calls).

        Raises AppUnavailable like `request`; the pool follows a changed app host/port. With a
        `bridge` attached (`funchost run`), the request runs in-process (same scope, answer).
        """
        if not path.startswith("/"):
            path = "/" + path
        bridge = self.bridge
        if bridge is not None and bridge.port == self.port:
            return await bridge.request(method, path, body, headers, timeout or self.timeout)
        if self.port is None:
            raise AppUnavailable("no app port configured (--app-port)")
        pool = self._pool
        if pool is None or (pool.host, pool.port) != (self.host, self.port):
            if pool is not None:
                pool.close()
            pool = self._pool = FastHttpPool(self.host, self.port, self.app_api_token, self.timeout)
        return await pool.request(method, path, body, headers, timeout)

    async def wait_ready(self, timeout: float = 60.0, path: str = "/healthz") -> bool:
        """Poll the app until it answers anything on `path`; set `ready` when it does."""
        if self.port is None:
            return False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                await self.request("GET", path, timeout=2.0)
                self.ready.set()
                return True
            except AppUnavailable:
                await asyncio.sleep(0.05)
        return False

    async def health_check(self, timeout: float = 0.5, path: str = "/healthz") -> bool:
        """`GET path`: healthy when the app answers 2xx within `timeout`."""
        try:
            resp = await self.request("GET", path, timeout=timeout)
        except AppUnavailable:
            return False
        return 200 <= resp.status < 300

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    # -- the building blocks' calls (AppChannel) -------------------------------------------------
    async def list_subscriptions(self) -> list[dict[str, Any]]:
        """`GET /dapr/subscribe`; an unreachable app or a bad answer means none."""
        try:
            resp = await self.request("GET", "/dapr/subscribe", timeout=10.0)
            if resp.status == 200 and resp.body:
                doc = resp.json()
                return doc if isinstance(doc, list) else []
        except (AppUnavailable, ValueError) as exc:
            log.warning("GET /dapr/subscribe failed: %s", exc)
        return []

    async def deliver_event(
        self, sub: EventSubscription, msg: EventMessage, path: str, timeout: float | None
    ) -> AppResponse:
        """POST the CloudEvent to `path`."""
        return await self.fast_request(
            "POST", path, msg.body_for(sub.raw), sub.headers_for(msg), timeout
        )

    async def deliver_bulk(
        self, envelope: dict[str, Any], raw: bool, path: str, timeout: float | None
    ) -> AppResponse:
        """POST one `com.dapr.event.sent.bulk` envelope."""
        body = json.dumps(envelope, separators=(",", ":")).encode()
        return await self.fast_request(
            "POST", path, body, {"Content-Type": "application/json"}, timeout
        )

    async def input_bindings(self, routes: Mapping[str, str]) -> set[str]:
        """`OPTIONS /<route>` per binding: 2xx or 405 means the app listens."""
        listening: set[str] = set()
        for name, route in routes.items():
            try:
                resp = await self.request("OPTIONS", route, timeout=10)
            except AppUnavailable:
                continue
            if 200 <= resp.status < 300 or resp.status == 405:
                listening.add(name)
        return listening

    async def deliver_binding(
        self, name: str, route: str, data: bytes, metadata: Mapping[str, str]
    ) -> AppResponse:
        """POST one input event (`application/json`, metadata as headers)."""
        headers = {"Content-Type": "application/json"}
        headers.update({k: v for k, v in metadata.items() if k.isascii() and v.isascii()})
        return await self.request("POST", route, body=data, headers=headers)

    async def deliver_job(self, name: str, data: Any) -> AppResponse:
        """`POST /job/<name>` with the job's data as daprd encodes it."""
        return await self.request(
            "POST",
            f"/job/{name}",
            body=callback_body(data),
            headers={"Content-Type": "application/json"},
        )
