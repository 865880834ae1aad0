"""Which apps the dashboard shows: the local app-id registry (`list_apps`), plus a fixed target.

`funchost run PATH` gives its own app as the fixed target; `funchost run -f` and
`funchost dashboard` with no target read the registry only (a "weak" fixed target, daprd's
default ports, is shown only while the registry lists no app). Each app gets its own `Sources`
(kept across requests for the overview charts); a request names the app with `?app=<id>`, and
no `app` means the default: the fixed target, else the first preferred app running, else the
first registered app.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from funchost.sidecar.resolution import AppAddress, list_apps, registry_dir

from ._sources import SourceError, Sources, Targets

if TYPE_CHECKING:
    import httpx

__all__ = ["AppEntry", "Catalog"]

#: How long one read of the registry is reused (the page polls every 2 s).
REGISTRY_TTL = 1.0


@dataclass(frozen=True)
class AppEntry:
    """One app the dashboard can show: its id, where it listens, its registry entry if any."""

    app_id: str
    targets: Targets
    address: AppAddress | None = None


class Catalog:
    """The apps to show, each with its `Sources`."""

    def __init__(
        self,
        fixed: Targets | None = None,
        *,
        fixed_id: str = "",
        weak: bool = False,
        registry: bool = False,
        directory: Path | str | None = None,
        preferred: list[str] | None = None,
        api_token: str | None = None,
        app_token: str | None = None,
    ) -> None:
        self.fixed = fixed
        self.fixed_id = fixed_id
        self.weak = weak
        self.registry = registry
        self.directory = directory
        self.preferred = list(preferred or [])
        self.api_token = api_token if fixed is None else fixed.api_token
        self.app_token = app_token if fixed is None else fixed.app_token
        self._cache: tuple[float, list[AppEntry]] | None = None
        self._sources: dict[str, Sources] = {}

    # -- which apps --------------------------------------------------------------------------
    def _targets(self, address: AppAddress) -> Targets:
        app_url = ""
        if address.app_port and address.app_protocol in ("http", "https", "h2c"):
            scheme = "https" if address.app_protocol == "https" else "http"
            app_url = f"{scheme}://{address.host}:{address.app_port}"
        return Targets(
            app_url=app_url,
            sidecar_url=address.http_url,
            grpc_address=address.grpc_address,
            api_token=self.api_token,
            app_token=self.app_token,
        )

    def _read(self) -> list[AppEntry]:
        found = list_apps(self.directory) if self.registry else []
        entries: list[AppEntry] = []
        fixed_seen = False
        for address in found:
            targets = self._targets(address)
            if self.fixed is not None and _same_port(self.fixed.sidecar_url, address.http_port):
                targets, fixed_seen = self.fixed, True
            entries.append(AppEntry(address.app_id, targets, address))
        if self.fixed is not None and not fixed_seen and not (self.weak and entries):
            entries.insert(0, AppEntry(self.fixed_id, self.fixed))
        return entries

    async def entries(self) -> list[AppEntry]:
        """Every app to show (the registry read at most once a second)."""
        now = time.monotonic()
        if self._cache is None or now - self._cache[0] > REGISTRY_TTL:
            self._cache = (now, await asyncio.to_thread(self._read))
        return self._cache[1]

    def default_id(self, entries: list[AppEntry]) -> str | None:
        if self.fixed is not None:
            for entry in entries:
                if entry.targets is self.fixed:
                    return entry.app_id
        ids = [e.app_id for e in entries]
        for app_id in self.preferred:
            if app_id in ids:
                return app_id
        return ids[0] if ids else None

    async def entry(self, app_id: str | None) -> AppEntry:
        """The app named `app_id` (None or "": the default); a 404 `SourceError` names the
        running ones when there is no such app."""
        entries = await self.entries()
        wanted = app_id or self.default_id(entries)
        for entry in entries:
            if entry.app_id == wanted:
                return entry
        if not app_id:
            raise SourceError(
                404,
                f"no app is running: start one with `funchost run PATH` or `funchost run -f "
                f"dapr.yaml` (apps are found in the registry {self._where()})",
            )
        running = ", ".join(repr(e.app_id) for e in entries) or "none"
        raise SourceError(
            404,
            f"no running app has the id {app_id!r} (running: {running}; registry "
            f"{self._where()}): pick one in the header",
        )

    def _where(self) -> str:
        return str(self.directory) if self.directory is not None else str(registry_dir())

    async def sources(self, app_id: str | None) -> Sources:
        """The `Sources` of an app, kept while its addresses stay the same."""
        entry = await self.entry(app_id)
        current = self._sources.get(entry.app_id)
        if current is not None and current.targets == entry.targets:
            return current
        if current is not None:
            await current.close()
        made = Sources(replace(entry.targets))
        self._sources[entry.app_id] = made
        return made

    # -- the Apps list -----------------------------------------------------------------------
    async def apps(self, current: str | None) -> dict[str, Any]:
        """Each app's id, pid, ports, protocol and sidecar health, and which one is shown."""
        entries = await self.entries()
        chosen = current or self.default_id(entries)
        import httpx

        async with httpx.AsyncClient(timeout=2.0) as client:
            health = await asyncio.gather(*(_health(client, e.targets) for e in entries))
        rows = []
        for entry, state in zip(entries, health, strict=True):
            address = entry.address
            rows.append(
                {
                    "appId": entry.app_id,
                    "pid": address.pid if address else None,
                    "namespace": address.namespace if address else None,
                    "httpPort": _port(entry.targets.sidecar_url),
                    "grpcPort": _port(entry.targets.grpc_address),
                    "appPort": address.app_port if address else _port(entry.targets.app_url),
                    "appProtocol": address.app_protocol if address else "http",
                    "appUrl": entry.targets.app_url,
                    "sidecarUrl": entry.targets.sidecar_url,
                    "health": state,
                    "registered": address is not None,
                }
            )
        return {"current": chosen, "apps": rows, "registry": self._where() if self.registry else ""}

    async def close(self) -> None:
        for sources in self._sources.values():
            await sources.close()
        self._sources.clear()


def _port(url: str) -> int | None:
    tail = url.rstrip("/").rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _same_port(url: str, port: int) -> bool:
    return _port(url) == port


async def _health(client: httpx.AsyncClient, targets: Targets) -> str:
    """daprd's health API: healthy (204), starting (the app not found yet) or unreachable."""
    import httpx

    headers = {"dapr-api-token": targets.api_token} if targets.api_token else {}
    try:
        resp = await client.get(targets.sidecar_url.rstrip("/") + "/v1.0/healthz", headers=headers)
    except httpx.HTTPError:
        return "unreachable"
    if resp.status_code == 204:
        return "healthy"
    try:
        outbound = await client.get(
            targets.sidecar_url.rstrip("/") + "/v1.0/healthz/outbound", headers=headers
        )
    except httpx.HTTPError:
        return "unreachable"
    return "starting" if outbound.status_code == 204 else f"unhealthy ({resp.status_code})"
