"""Actor placement across the apps on this machine (the role of daprd's placement service).

Every registered sidecar whose app hosts actor types writes them to
`<registry>/actors/<app-id>.json` (removed again when the sidecar stops). A call for a type
this app does not host goes to a live app that hosts it (found through the name registry; by a
hash of the actor id when several do): the sidecar forwards the actor API request unchanged to
that app's sidecar, which runs it in its app's turn. So reminders and timers registered for
such an actor live in, and fire in, the hosting app, as with daprd.
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Mapping
from pathlib import Path

from ..app_channel import AppResponse, FastHttpPool
from ..invocation.remote import RemoteSidecars
from ..resolution import AppAddress, JsonDocs

SUFFIX = ".json"
FOLDER = "actors"
_SKIP = frozenset({"host", "content-length", "connection", "transfer-encoding", "keep-alive"})


class Placement:
    """Which live app hosts which actor types; forwards calls to its sidecar."""

    def __init__(self, app_id: str, namespace: str, directory: Path | None) -> None:
        self.app_id = app_id
        self.namespace = namespace
        #: None: this sidecar is not registered (a single app)
        self.directory = directory / FOLDER if directory is not None else None
        self.sidecars = RemoteSidecars(directory)
        self.docs = JsonDocs(self.directory, SUFFIX)
        self._pools: dict[tuple[str, int], FastHttpPool] = {}

    def publish(self, types: list[str]) -> None:
        """Record the actor types this app hosts (none: the file says so)."""
        if self.directory is None:
            return
        if not types:
            with contextlib.suppress(FileNotFoundError):
                (self.directory / f"{self.app_id}{SUFFIX}").unlink()
            return
        doc = {"app_id": self.app_id, "namespace": self.namespace, "types": sorted(types)}
        self.docs.write(self.app_id, doc)

    async def host_for(self, actor_type: str, actor_id: str) -> AppAddress | None:
        """The live sidecar of another app hosting `actor_type`, or None."""
        hosts = sorted(
            str(doc["app_id"])
            for doc in self.docs.read_all()
            if doc.get("app_id") != self.app_id
            and doc.get("namespace") == self.namespace
            and actor_type in doc.get("types", ())
        )
        live = [a for h in hosts if (a := await self.sidecars.find(h, self.namespace))]
        if not live:
            return None
        return live[zlib.crc32(actor_id.encode()) % len(live)]

    async def forward(
        self,
        host: AppAddress,
        verb: str,
        path: str,
        headers: Mapping[str, str],
        body: bytes,
    ) -> AppResponse:
        """The same actor API request, answered by the hosting app's sidecar."""
        key = (host.host, host.http_port)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = FastHttpPool(host.host, host.http_port)
        sent = {k: v for k, v in headers.items() if k.lower() not in _SKIP}
        try:
            return await pool.request(verb, path, body, sent)
        except Exception:
            self.sidecars.forget(host.app_id, self.namespace)
            raise

    async def close(self) -> None:
        if self.directory is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.directory / f"{self.app_id}{SUFFIX}").unlink()
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        await self.sidecars.close()
