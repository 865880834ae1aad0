"""The caller sidecar -> target sidecar hop: registry lookups (cached briefly) and keep-alive
connections per target sidecar.

A call for another app goes to the target sidecar's `/funchost/internal/invoke/<method>` (its
stand-in for daprd's internal `ServiceInvocation.CallLocal`), which hands it to its own app.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .. import resolution
from ..app_channel import AppResponse, AppUnavailable, FastHttpPool
from ..resolution import AppAddress

if TYPE_CHECKING:
    import aiohttp

INTERNAL_PREFIX = "/funchost/internal/invoke/"


class RemoteSidecars:
    """Finds other apps' sidecars in the local registry and sends invocations to them."""

    def __init__(self, registry_dir: Path | str | None = None, ttl: float = 2.0) -> None:
        self.registry_dir = registry_dir
        self.ttl = ttl
        self._cache: dict[tuple[str, str], tuple[AppAddress, float]] = {}
        self._pools: dict[tuple[str, int], FastHttpPool] = {}
        self._session: aiohttp.ClientSession | None = None

    def lookup(self, app_id: str, namespace: str) -> AppAddress | None:
        """The live address of `app_id` in `namespace` (cached for `ttl` seconds)."""
        key = (app_id, namespace)
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and hit[1] > now:
            return hit[0]
        found = resolution.resolve(app_id, namespace, directory=self.registry_dir)
        if found is None:
            self._cache.pop(key, None)
            return None
        self._cache[key] = (found, now + self.ttl)
        return found

    async def find(self, app_id: str, namespace: str) -> AppAddress | None:
        """`lookup` without blocking the loop: a cache miss reads the registry in a thread."""
        hit = self._cache.get((app_id, namespace))
        if hit is not None and hit[1] > time.monotonic():
            return hit[0]
        return await asyncio.to_thread(self.lookup, app_id, namespace)

    def forget(self, app_id: str, namespace: str) -> None:
        """Drop a cached address (its sidecar did not answer)."""
        self._cache.pop((app_id, namespace), None)

    async def send(
        self,
        address: AppAddress,
        verb: str,
        method: str,
        query: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float | None = None,
    ) -> AppResponse:
        """One request to the target sidecar; AppUnavailable when it cannot be reached."""
        path = INTERNAL_PREFIX + method.lstrip("/") + (f"?{query}" if query else "")
        if verb == "HEAD":  # the lean pool's parser would wait for a body that never comes
            return await self._aiohttp(address, verb, path, body, headers, timeout)
        key = (address.host, address.http_port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = FastHttpPool(address.host, address.http_port)
        return await pool.request(verb, path, body, headers, timeout)

    async def _aiohttp(
        self,
        address: AppAddress,
        verb: str,
        path: str,
        body: bytes,
        headers: Mapping[str, str],
        timeout: float | None,
    ) -> AppResponse:
        import aiohttp  # on first use (HEAD): other calls take the lean pool
        from yarl import URL

        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(auto_decompress=False)
        url = address.http_url + path
        try:
            async with self._session.request(
                verb,
                URL(url, encoded=True),
                data=body,
                headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=timeout or 60.0),
            ) as resp:
                return AppResponse(resp.status, dict(resp.headers), await resp.read())
        except (aiohttp.ClientConnectionError, TimeoutError, OSError) as exc:
            raise AppUnavailable(f"sidecar of {address.app_id} at {url}: {exc!r}") from exc

    async def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None
