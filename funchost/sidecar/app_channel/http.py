"""The sidecar -> app HTTP channel (what daprd calls "the app channel"): aiohttp for general
calls, the lean `FastHttpPool` (fast_http.py) for the pub/sub hot path."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

import aiohttp

from .fast_http import FastHttpPool
from .response import AppResponse, AppUnavailable


class AppChannel:
    """Calls the app on loopback, adding `dapr-api-token` when APP_API_TOKEN is set."""

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
        self.ready = asyncio.Event()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
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

        Raises AppUnavailable like `request`; the pool follows a changed app host/port.
        """
        if self.port is None:
            raise AppUnavailable("no app port configured (--app-port)")
        pool = self._pool
        if pool is None or (pool.host, pool.port) != (self.host, self.port):
            if pool is not None:
                pool.close()
            pool = self._pool = FastHttpPool(self.host, self.port, self.app_api_token, self.timeout)
        if not path.startswith("/"):
            path = "/" + path
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

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
