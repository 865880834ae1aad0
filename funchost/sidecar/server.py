"""Typed composition of the embedded sidecar: one store, one clock, subsystems, HTTP + gRPC.

`Sidecar.__init__` builds every subsystem (state, configuration, locks, pub/sub, bindings, jobs,
invocation, secrets, actors, workflows...) as a typed attribute, in start order, handing each the
siblings it needs. Each contributes HTTP routes, gRPC services, start/stop work and an "is
anything in flight" answer for `idle()`. `Sidecar` is an asyncio object: run it on any loop
(`await sidecar.start()`), or in a thread of its own with `SidecarThread` (tests, `funchost run`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import uvicorn
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from . import resolution
from .actors import ActorsSubsystem
from .app_channel import AppChannel, make_channel
from .bindings import BindingsSubsystem
from .clock import Clock, VirtualClock
from .components import ResourcesSubsystem
from .config import SidecarConfig
from .configuration.subsystem import ConfigurationSubsystem
from .core import CoreSubsystem
from .grpc_api import DaprApis, DaprService, GrpcApiSubsystem
from .introspection import IntrospectionSubsystem
from .invocation.targets import install_app_id_fallback
from .invoke import InvokeSubsystem
from .jobs import JobsSubsystem
from .limits import MaxBodySizeMiddleware, body_too_large_handlers
from .lock.subsystem import LockSubsystem
from .metrics import MetricsSubsystem
from .pubsub.subsystem import PubSubSubsystem
from .secrets import SecretsSubsystem
from .security import ApiTokenMiddleware, grpc_token_interceptors
from .state.subsystem import StateSubsystem
from .store import Store
from .store_errors import unexpected_error_handlers
from .subsystem import Subsystem
from .workflows import WorkflowsSubsystem

if TYPE_CHECKING:
    from .resolution import Registration

__all__ = ["Sidecar", "SidecarConfig", "SidecarThread", "Subsystem", "free_port"]

log = logging.getLogger("funchost.sidecar")
T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A uvloop event loop (asyncio's own when uvloop is missing), for a server thread."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _name_os_thread(name: str) -> None:
    """Name the calling thread for the OS too (top -H, /proc/PID/task/TID/comm; profilers)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME (Linux)


def _ephemeral_start() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as fh:
            return int(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free TCP port on loopback (bound then released).

    Picked at random below the kernel's ephemeral range: a port bound to 0 comes from that range,
    where any outgoing connection may take it before the caller binds it again."""
    top = _ephemeral_start()
    for _ in range(50):
        port = random.randrange(10000, top) if top > 10000 else 0
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_in_use(api: str, port: int) -> str:
    return (
        f"sidecar {api} port {port} on 127.0.0.1 is already in use: "
        "stop what listens there or choose another port"
    )


def _bind_loopback(port: int, api: str = "HTTP") -> socket.socket:
    """A listening-ready socket on 127.0.0.1:port (0 = pick); OSError naming the port if taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        raise OSError(_port_in_use(api, port)) from exc
    sock.set_inheritable(True)
    return sock


class _EmbeddedServer(uvicorn.Server):
    """uvicorn for the sidecar's HTTP API: signals belong to whoever runs the sidecar."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Sidecar:
    """The embedded Dapr-compatible sidecar: its subsystems are typed attributes, in start order."""

    components: ResourcesSubsystem
    core: CoreSubsystem
    secrets: SecretsSubsystem
    state: StateSubsystem
    configuration: ConfigurationSubsystem
    lock: LockSubsystem
    pubsub: PubSubSubsystem
    bindings: BindingsSubsystem
    jobs: JobsSubsystem
    invoke: InvokeSubsystem
    actors: ActorsSubsystem
    grpc_api: GrpcApiSubsystem
    workflows: WorkflowsSubsystem
    metrics: MetricsSubsystem
    introspection: IntrospectionSubsystem

    def __init__(self, config: SidecarConfig, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or Clock()
        self.app: AppChannel = make_channel(config)  # first: a bad --app-protocol opens nothing
        #: this sidecar's claim on its app id in the local name registry (config.register),
        #: taken first: a second process with this id fails naming the holder's pid
        self.registration: Registration | None = None
        if config.register:
            self.registration = resolution.claim(
                config.app_id, config.namespace, config.registry_dir
            )
        try:
            self.store = Store(config.db_path, exclusive=True)
        except BaseException:
            if self.registration is not None:
                self.registration.close()
            raise
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._grpc: grpc.aio.Server | None = None
        self._app_task: asyncio.Task[None] | None = None
        self._health_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.started = asyncio.Event()
        self.stopping = False
        self.quiesced = False
        self.loop: asyncio.AbstractEventLoop | None = None
        #: called by `request_shutdown()` (gRPC Shutdown); `run_sidecar_forever` sets it
        self.on_shutdown: Callable[[], None] | None = None
        if isinstance(self.clock, VirtualClock):
            self.clock.settle = self.idle

        # Built in start order; each subsystem gets the siblings it uses.
        self.components = ResourcesSubsystem(self)
        self.core = CoreSubsystem(self)
        self.secrets = SecretsSubsystem(self, self.components)
        self.pubsub = PubSubSubsystem(self, self.components)
        self.state = StateSubsystem(self, self.components, self.pubsub)  # outbox publishes
        self.configuration = ConfigurationSubsystem(self, self.components)
        self.lock = LockSubsystem(self, self.components)
        self.bindings = BindingsSubsystem(self, self.components)
        self.jobs = JobsSubsystem(self)
        self.invoke = InvokeSubsystem(self, self.components)
        self.actors = ActorsSubsystem(self, self.state)
        apis = DaprApis(
            self,
            core=self.core,
            state=self.state,
            pubsub=self.pubsub,
            bindings=self.bindings,
            secrets=self.secrets,
            jobs=self.jobs,
            invoke=self.invoke,
            actors=self.actors,
            configuration=self.configuration,
            lock=self.lock,
        )
        self.grpc_api = GrpcApiSubsystem(self, DaprService(apis))
        self.workflows = WorkflowsSubsystem(self, self.components.runtime_config)
        self.metrics = MetricsSubsystem(self, self.pubsub)
        self.introspection = IntrospectionSubsystem(
            self, pubsub=self.pubsub, actors=self.actors, workflows=self.workflows
        )
        #: every subsystem by name, in start order (lifecycle, metadata, metrics); tools may
        #: add their own (`funchost.testing`) before `start()`
        self.subsystems: dict[str, Subsystem] = {
            sub.name: sub
            for sub in (
                self.components,
                self.core,
                self.secrets,
                self.state,
                self.configuration,
                self.lock,
                self.pubsub,
                self.bindings,
                self.jobs,
                self.invoke,
                self.grpc_api,
                self.workflows,
                self.actors,
                self.metrics,
                self.introspection,
            )
        }

    def get(self, name: str) -> Any:
        """The subsystem registered under `name` (for tools; the sidecar uses its attributes)."""
        return self.subsystems[name]

    def request_shutdown(self) -> None:
        """Stop the sidecar soon (gRPC `Shutdown`, `/v1.0/shutdown`): `on_shutdown` if set."""
        if self.on_shutdown is not None:
            self.on_shutdown()
            return
        # not via spawn(): stop() cancels the sidecar's own tasks
        loop = asyncio.get_running_loop()
        loop.call_later(0.1, lambda: loop.create_task(self.stop()))

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run a background task owned by the sidecar (cancelled on stop, errors logged)."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("sidecar background task failed", exc_info=task.exception())

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.config.http_port}"

    @property
    def grpc_address(self) -> str:
        return f"127.0.0.1:{self.config.grpc_port}"

    def env(self) -> dict[str, str]:
        """The environment daprd exports to its app."""
        env = {
            "DAPR_HTTP_PORT": str(self.config.http_port),
            "DAPR_GRPC_PORT": str(self.config.grpc_port),
            "APP_ID": self.config.app_id,
        }
        if self.config.app_port is not None:
            env["APP_PORT"] = str(self.config.app_port)
        if self.config.api_token:
            env["DAPR_API_TOKEN"] = self.config.api_token
        if self.config.app_api_token:
            env["APP_API_TOKEN"] = self.config.app_api_token
        return env

    @property
    def http_server(self) -> uvicorn.Server | None:
        """The uvicorn server of the HTTP API once started (`funchost run` calls its ASGI app
        in-process for the app's actor state, see wiring/_actor_http.py)."""
        return self._http

    async def start(self) -> None:
        """Open servers on loopback, start subsystems, then discover the app in the background."""
        self.loop = asyncio.get_running_loop()
        routes: list[BaseRoute] = []
        for sub in self.subsystems.values():
            routes.extend(sub.routes())
        handlers = {**unexpected_error_handlers(), **body_too_large_handlers()}
        http_app = Starlette(routes=routes, exception_handlers=handlers)
        install_app_id_fallback(http_app)  # `dapr-app-id` invocations of unrouted paths
        # the body limit covers every API; the cross-app hop's fast path (another sidecar's
        # call, already limited by that sidecar) goes around it
        asgi: Any = self.invoke.wrap_asgi(
            MaxBodySizeMiddleware(self.actors.wrap_asgi(http_app), self.config.max_body_size)
        )
        if self.config.api_token:
            asgi = ApiTokenMiddleware(asgi, self.config.api_token)
        self._grpc = grpc.aio.server(
            interceptors=grpc_token_interceptors(self.config.api_token),
            options=[
                ("grpc.max_receive_message_length", self.config.max_body_size),
                ("grpc.max_send_message_length", 64 * 1024 * 1024),
                ("grpc.so_reuseport", 0),
            ],
        )
        for sub in self.subsystems.values():
            sub.add_grpc(self._grpc)
        if self.config.grpc_port:
            _bind_loopback(self.config.grpc_port, "gRPC").close()  # fail before gRPC logs a C error
        try:
            bound = self._grpc.add_insecure_port(f"127.0.0.1:{self.config.grpc_port}")
        except RuntimeError:  # grpc.aio raises instead of returning 0
            bound = 0
        if bound == 0:
            raise OSError(_port_in_use("gRPC", self.config.grpc_port))
        self.config.grpc_port = bound
        await self._grpc.start()

        uv_config = uvicorn.Config(
            asgi,
            host="127.0.0.1",
            port=self.config.http_port,
            log_level=self.config.log_level,
            log_config=None,  # leave logging to the process (funchost's JSON / rich handler)
            access_log=False,
            lifespan="off",
            loop="none",
            ws="none",  # daprd's HTTP API has no WebSocket route; the library stays unloaded
            timeout_keep_alive=30,
        )
        # Bind here, not in uvicorn: on a taken port uvicorn calls sys.exit() inside its task,
        # which would kill this loop's thread silently instead of failing start().
        sock = _bind_loopback(self.config.http_port)
        self.config.http_port = int(sock.getsockname()[1])
        self._http = _EmbeddedServer(uv_config)
        from ._quiet_uvicorn import SIDECAR_SERVER, quiet_sidecar_uvicorn

        quiet_sidecar_uvicorn()  # the app's uvicorn prints the start/stop lines, once
        token = SIDECAR_SERVER.set(True)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[sock]))
        SIDECAR_SERVER.reset(token)
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()
                raise OSError(_port_in_use("HTTP", self.config.http_port))
            await asyncio.sleep(0.01)

        for sub in self.subsystems.values():
            await sub.start()
        self.store.go_live()  # from now on a lock held elsewhere blocks the loop for ms, not s
        if self.registration is not None:
            self.registration.publish(
                self.config.http_port,
                self.config.grpc_port,
                self.config.app_port,
                self.config.app_protocol,
            )
        self.started.set()
        if self.config.app_port is not None:
            self._app_task = asyncio.create_task(self._discover_app())

    async def _discover_app(self) -> None:
        ok = await self.app.wait_ready(
            timeout=self.config.app_ready_timeout, path=self.config.app_health_path
        )
        if not ok:
            log.warning(
                "app on port %s did not answer %s within %ss",
                self.config.app_port,
                self.config.app_health_path,
                self.config.app_ready_timeout,
            )
            return
        for sub in self.subsystems.values():
            try:
                await sub.on_app_ready()
            except Exception:
                log.exception("%s: reading the app's configuration failed", sub.name)
        if self.config.enable_app_health_check and self._health_task is None:
            from .app_channel.health import watch_health

            self._health_task = self.spawn(watch_health(self))

    async def reconnect_app(self) -> None:
        """The app restarted (hot reload): re-read its subscriptions, actor types, bindings."""
        self.app.ready.clear()
        if self._app_task is not None:
            self._app_task.cancel()
        self._app_task = asyncio.create_task(self._discover_app())
        await self._app_task

    async def wait_app_ready(self, timeout: float = 60.0) -> None:
        """Wait until the app was discovered and every subsystem read its configuration."""
        if self._app_task is not None:
            await asyncio.wait_for(asyncio.shield(self._app_task), timeout)

    async def idle(self, timeout: float = 30.0) -> None:
        """Wait until no subsystem has work in flight or due now."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        quiet = 0
        while loop.time() < deadline:
            if any(sub.busy() for sub in self.subsystems.values()):
                quiet = 0
                await asyncio.sleep(0.002)
                continue
            quiet += 1
            if quiet >= 3:
                return
            await asyncio.sleep(0.002)
        busy = [s.name for s in self.subsystems.values() if s.busy()]
        raise TimeoutError(f"sidecar still busy after {timeout:.0f}s: {busy}")

    async def quiesce(self) -> None:
        """Shutdown step 1: stop dispatching new work to the app; the Dapr API stays up.

        No new deliveries, reminders, timers, jobs, cron bindings or workflow timers reach the
        app, so it can drain its in-flight handlers (which may still save state and publish).
        Then `deactivate_actors()` while the app still listens, then the app exits, then `stop()`.
        """
        if self.quiesced:
            return
        self.quiesced = True
        for sub in reversed(list(self.subsystems.values())):
            try:
                await sub.quiesce()
            except Exception:
                log.exception("%s: quiesce failed", sub.name)

    async def deactivate_actors(self) -> None:
        """Shutdown step 2: deactivate every active actor on the (still listening) app."""
        await self.actors.deactivate_all()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop subsystems (reverse order), servers, background tasks; close the store."""
        await self.quiesce()
        self.stopping = True
        if self.registration is not None:
            self.registration.close()  # other apps stop resolving us first
            self.registration = None
        if self._app_task is not None:
            self._app_task.cancel()
        for sub in reversed(list(self.subsystems.values())):
            try:
                await sub.stop()
            except Exception:
                log.exception("%s: stop failed", sub.name)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._grpc is not None:
            await self._grpc.stop(grace=min(grace, 1.0))
        if self._http is not None:
            self._http.should_exit = True
            if self._http_task is not None:
                with contextlib.suppress(BaseException):
                    await asyncio.wait_for(self._http_task, timeout=grace)
        await self.app.close()
        self.store.close()


class SidecarThread:
    """Runs a `Sidecar` on its own event loop in a daemon thread.

    The app (and its synchronous Dapr SDK calls) can then live in the same process without
    blocking the sidecar. `call()` runs a coroutine on the sidecar's loop and returns its result.
    """

    def __init__(self, sidecar: Sidecar) -> None:
        self.sidecar = sidecar
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready: Future[None] = Future()

    def start(self, timeout: float = 30.0) -> None:
        """Start the thread and return once the sidecar's servers listen."""
        self._thread = threading.Thread(target=self._run, name="funchost-sidecar", daemon=True)
        self._thread.start()
        self._ready.result(timeout)

    def _run(self) -> None:
        _name_os_thread("funchost-sidecar")
        self.loop = loop = new_event_loop()
        asyncio.set_event_loop(loop)

        async def main() -> None:
            try:
                await self.sidecar.start()
            except BaseException as exc:
                self._ready.set_exception(exc)
                return
            self._ready.set_result(None)

        loop.run_until_complete(main())
        if self._ready.exception() is None:
            loop.run_forever()
        loop.close()

    def call(
        self, coro: Coroutine[Any, Any, T] | Callable[[], Awaitable[T]], timeout: float = 60.0
    ) -> T:
        """Run a coroutine on the sidecar's loop from another thread; return its result."""
        assert self.loop is not None, "sidecar thread not started"
        if callable(coro):
            coro = coro()  # type: ignore[assignment]
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return fut.result(timeout)

    async def acall(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await a coroutine on the sidecar's loop from another event loop."""
        assert self.loop is not None, "sidecar thread not started"
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return await asyncio.wrap_future(fut)

    def quiesce(self, timeout: float = 15.0) -> None:
        """`Sidecar.quiesce()` from another thread: no new work goes to the app."""
        if self.loop is not None and self.loop.is_running():
            self.call(self.sidecar.quiesce(), timeout=timeout)

    def deactivate_actors(self, timeout: float = 60.0) -> None:
        """`Sidecar.deactivate_actors()` from another thread (the app must still listen)."""
        if self.loop is not None and self.loop.is_running():
            self.call(self.sidecar.deactivate_actors(), timeout=timeout)

    def local_taskhub(self) -> Any:
        """A `LocalTaskHub`: this sidecar's `TaskHubSidecarService` for a workflow worker in
        this process, without the network (see `workflows.local`)."""
        from .workflows.local import LocalTaskHub

        assert self.loop is not None, "sidecar thread not started"
        engine = self.sidecar.get("workflows").engine
        return LocalTaskHub(engine, self.loop, self.sidecar.config.max_body_size)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the sidecar cleanly and join the thread."""
        if self.loop is None or self._thread is None:
            return
        if self.loop.is_running():
            with contextlib.suppress(Exception):
                self.call(self.sidecar.stop(), timeout=timeout)
            self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
