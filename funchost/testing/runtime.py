"""`LocalRuntime`: a functions folder running on a sidecar and an app, driven from a test."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from funchost.testing.access import StateAccess, Workflows, encode_value
from funchost.testing.apps import default_resources, functions_app_factory, load_app
from funchost.testing.base import NeedsVirtualClock
from funchost.testing.inspection import BindingReply

ENV_KEYS = ("DAPR_HTTP_PORT", "DAPR_GRPC_PORT", "APP_ID", "APP_PORT")


class LocalRuntime:
    """A functions folder on the embedded sidecar (or a real daprd), for tests.

    ```python
    async with LocalRuntime("functions") as rt:
        await rt.publish("pubsub", "orders", {"id": 1})
        await rt.idle()
        assert await rt.state().get("order-1") == {"id": 1}
    ```
    `clock="virtual"` (default) freezes time until `await rt.advance(timedelta(...))`.
    `mode="subprocess"` runs sidecar and app in a child process (a true kill -9 in
    `crash_and_restart()`); `sidecar="daprd"` runs a real `daprd` from PATH instead.
    """

    def __init__(
        self,
        functions_path: str | Path | None = None,
        *,
        app: Any = None,
        resources: Sequence[str | Path] | None = None,
        app_id: str = "app",
        clock: Literal["virtual", "real"] = "virtual",
        db_path: str | Path | None = None,
        mode: Literal["inprocess", "subprocess"] = "inprocess",
        sidecar: Literal["embedded", "daprd"] = "embedded",
        ready_timeout: float = 60.0,
        log_level: str = "warning",
    ) -> None:
        if (functions_path is None) == (app is None):
            raise ValueError("LocalRuntime needs exactly one of functions_path or app=")
        if clock not in ("virtual", "real"):
            raise ValueError(f"LocalRuntime clock={clock!r}: use 'virtual' or 'real'")
        if mode not in ("inprocess", "subprocess"):
            raise ValueError(f"LocalRuntime mode={mode!r}: use 'inprocess' or 'subprocess'")
        if sidecar not in ("embedded", "daprd"):
            raise ValueError(f"LocalRuntime sidecar={sidecar!r}: use 'embedded' or 'daprd'")
        self.functions_path = Path(functions_path).resolve() if functions_path is not None else None
        if self.functions_path is not None and not self.functions_path.is_dir():
            raise FileNotFoundError(
                f"LocalRuntime: functions folder {self.functions_path} does not exist "
                "(set @pytest.mark.funchost(path=...) or the funchost_functions ini option)"
            )
        if resources is None:
            self.resources = default_resources(self.functions_path) if self.functions_path else []
        else:
            self.resources = [Path(r).resolve() for r in resources]
        self.app_id = app_id
        self.clock = clock
        self.mode = mode
        self.sidecar_kind = sidecar
        self.ready_timeout = ready_timeout
        self.log_level = log_level
        self._app = app
        self._tmpdir: str | None = None
        if db_path is None:
            self._tmpdir = tempfile.mkdtemp(prefix="funchost-test-")
            db_path = Path(self._tmpdir) / "funchost.db"
        self.db_path = Path(db_path)
        self._stack: Any = None
        self._saved_env: dict[str, str | None] = {}
        self._client: Any = None
        self._client_key: tuple[Any, str] | None = None
        self._http: Any = None
        self.workflows = Workflows(self)
        """Start / wait / raise_event / status / result / terminate workflows."""

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def is_virtual(self) -> bool:
        return self.clock == "virtual" and self.sidecar_kind == "embedded"

    def _app_factory(self) -> Callable[[], Any]:
        if isinstance(self._app, str):
            ref = self._app
            return lambda: load_app(ref)
        if self._app is not None:
            app = self._app
            return lambda: app
        assert self.functions_path is not None
        return functions_app_factory(self.functions_path)

    def _make_stack(self) -> Any:
        if self.sidecar_kind == "daprd":
            from funchost.testing.daprd import DaprdStack

            return DaprdStack(self)
        if self.mode == "subprocess":
            from funchost.testing.subprocess_stack import ChildStack

            return ChildStack(self)
        from funchost.testing.embedded import EmbeddedStack, StackConfig

        return EmbeddedStack(
            StackConfig(
                app_factory=self._app_factory(),
                db_path=self.db_path,
                app_id=self.app_id,
                resources=list(self.resources),
                virtual=self.clock == "virtual",
                ready_timeout=self.ready_timeout,
                log_level=self.log_level,
            )
        )

    async def start(self) -> LocalRuntime:
        """Start the sidecar and the app; return once the app is wired and ready."""
        self._saved_env = {k: os.environ.get(k) for k in ENV_KEYS}
        self._stack = self._make_stack()
        try:
            await asyncio.to_thread(self._stack.start)
        except BaseException:
            await self.stop()
            raise
        os.environ.update(self._stack.env())
        return self

    async def stop(self) -> None:
        """Stop everything cleanly, restore the environment, remove the temporary database."""
        await self._close_clients()
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await asyncio.to_thread(stack.stop)
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    async def __aenter__(self) -> LocalRuntime:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def crash_and_restart(self) -> None:
        """Kill sidecar and app abruptly (as kill -9 would), then start both on the same database.

        In-process, the sidecar's store is closed and its connections dropped before anything
        else, so nothing after the crash instant is persisted; `mode="subprocess"` sends SIGKILL.
        """
        await self._close_clients()
        await asyncio.to_thread(self._stack.restart_after_crash)
        os.environ.update(self._stack.env())

    async def _close_clients(self) -> None:
        await self.workflows.aclose()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        http, self._http = self._http, None
        if http is not None:
            with contextlib.suppress(Exception):
                await http.aclose()

    # -- addresses --------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """DAPR_HTTP_PORT, DAPR_GRPC_PORT, APP_ID, APP_PORT of the running pair."""
        return dict(self._stack.env())

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self._stack.env()['DAPR_HTTP_PORT']}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self._stack.env()['DAPR_GRPC_PORT']}"

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self._stack.env()['APP_PORT']}"

    async def client(self) -> Any:
        """The SDK's async `DaprClient`, connected to this runtime's sidecar."""
        key = (asyncio.get_running_loop(), self.grpc_address)
        if self._client is None or self._client_key != key:
            from dapr.aio.clients import DaprClient

            # Built on this loop (grpc.aio binds to it); its health probe answers at once.
            self._client = DaprClient(address=self.grpc_address)
            self._client_key = key
        return self._client

    def _http_client(self) -> Any:
        if self._http is None:
            import httpx

            self._http = httpx.AsyncClient(timeout=60.0)
        return self._http

    # -- helpers ----------------------------------------------------------------------------

    async def publish(
        self,
        pubsub: str,
        topic: str,
        data: Any,
        *,
        content_type: str | None = None,
        **metadata: str,
    ) -> None:
        """Publish through the sidecar (gRPC PublishEvent); dicts/lists go as JSON."""
        payload, default_type = encode_value(data)
        client = await self.client()
        await client.publish_event(
            pubsub,
            topic,
            payload,
            publish_metadata={k: str(v) for k, v in metadata.items()},
            data_content_type=content_type or default_type,
        )

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until every delivery, retry, activity and actor turn in flight has settled."""
        await self._stack.idle(timeout)

    async def advance(self, delta: timedelta | float) -> datetime:
        """Move the virtual clock forward, firing everything due on the way, in order.

        Returns the new virtual time. Reminders, actor timers, jobs, crons, workflow timers and
        delivery retry back-offs due within the window fire in wall-clock milliseconds.
        """
        if self.sidecar_kind == "daprd":
            raise NeedsVirtualClock(
                "advance() needs the embedded sidecar's virtual clock (this runtime uses daprd)"
            )
        if not self.is_virtual:
            raise RuntimeError(
                "advance() needs the virtual clock: this runtime was started with clock='real'"
            )
        seconds = delta.total_seconds() if isinstance(delta, timedelta) else float(delta)
        if seconds < 0:
            raise ValueError(f"advance({delta!r}): time only moves forward")
        return datetime.fromtimestamp(await self._stack.advance(seconds), UTC)

    def now(self) -> datetime:
        """The sidecar's current time (virtual or real) as an aware UTC datetime."""
        return datetime.fromtimestamp(self._stack.now(), UTC)

    async def invoke(
        self,
        method: str,
        *,
        http_method: str = "POST",
        json: Any = None,
        data: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """Call an `@invoke` function through the sidecar's invoke API; returns httpx.Response."""
        url = f"{self.http_url}/v1.0/invoke/{self.app_id}/method/{method.lstrip('/')}"
        kwargs: dict[str, Any] = {"headers": headers, "params": params}
        if json is not None:
            kwargs["json"] = json
        elif data is not None:
            kwargs["content"] = data
        return await self._http_client().request(http_method.upper(), url, **kwargs)

    async def send_binding(self, name: str, data: Any, **metadata: str) -> BindingReply:
        """Deliver `data` to the app as input binding `name` (as the component would)."""
        return await self._stack.send_binding(name, data, {k: str(v) for k, v in metadata.items()})

    def state(self, store: str = "statestore") -> StateAccess:
        """get / save / delete on a state store."""
        return StateAccess(self, store)

    def actor(self, actor_type: str, actor_id: str, interface: type) -> Any:
        """An SDK `ActorProxy` to one actor of the app."""
        from funchost.wiring.actors import actor_proxy

        return actor_proxy(actor_type, str(actor_id), interface)  # the host's serializer

    async def actor_state(self, actor_type: str, actor_id: str, key: str) -> Any:
        """An actor's saved state value (JSON-decoded), or None when absent."""
        from funchost.testing.access import decode_value

        url = f"{self.http_url}/v1.0/actors/{actor_type}/{actor_id}/state/{key}"
        resp = await self._http_client().get(url)
        if resp.status_code == 204 or not resp.content:
            return None
        resp.raise_for_status()
        return decode_value(resp.content)

    async def dead_letters(self, topic: str) -> list[Any]:
        """What was dead-lettered from `topic` (or published to dead-letter topic `topic`)."""
        return await self._stack.dead_letters(topic)

    async def outbox(self, binding: str) -> list[Any]:
        """What the app sent to output binding `binding` (a type the sidecar does not deliver)."""
        return await self._stack.outbox(binding)
