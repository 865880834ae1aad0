"""`--app-protocol grpc`: a `dapr.ext.grpc.App` (the SDK's own gRPC app) behind the embedded
sidecar, driven with `DaprClient`: invoke, topic events (RETRY, DROP -> dead letter, routing
rules), bulk topic events, input bindings, jobs, the health check and `dapr-api-token`.

The App serves on a free loopback port in a thread; a server interceptor records what daprd's
side (the sidecar) sent, so fields the SDK hides from handlers (HTTP verb, query string) are
checked on the wire.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from dapr.clients import DaprClient
from dapr.clients.grpc._jobs import Job
from dapr.clients.grpc._response import TopicEventResponse
from dapr.ext.grpc import App, BindingRequest, InvokeMethodRequest, InvokeMethodResponse, Rule
from google.protobuf.any_pb2 import Any as GrpcAny
from google.protobuf.wrappers_pb2 import StringValue

from funchost.sidecar import Sidecar, SidecarConfig, SidecarThread, VirtualClock, free_port

pytestmark = pytest.mark.e2e

TOKEN = "app-token-123"


@dataclass
class Call:
    rpc: str
    request: Any
    metadata: dict[str, str]


class Recorder(grpc.ServerInterceptor):  # type: ignore[misc]
    """Records every unary call the App receives (rpc name, request, metadata)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def of(self, rpc: str) -> list[Call]:
        return [c for c in self.calls if c.rpc == rpc]

    def intercept_service(self, continuation: Any, details: Any) -> Any:
        handler = continuation(details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        rpc = details.method.rsplit("/", 1)[-1]
        meta = {k: v for k, v in details.invocation_metadata if isinstance(v, str)}

        def wrapped(request: Any, context: Any) -> Any:
            self.calls.append(Call(rpc, request, meta))
            return inner(request, context)

        return grpc.unary_unary_rpc_method_handler(
            wrapped,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


@dataclass
class GrpcApp:
    """A `dapr.ext.grpc.App` on a free port, with what its handlers saw."""

    app: App
    recorder: Recorder
    port: int
    seen: dict[str, list[Any]] = field(default_factory=dict)

    def saw(self, key: str, item: Any) -> None:
        self.seen.setdefault(key, []).append(item)

    def got(self, key: str) -> list[Any]:
        return self.seen.get(key, [])


@dataclass
class Stack:
    app: GrpcApp
    sidecar: Sidecar
    thread: SidecarThread
    clock: VirtualClock

    def client(self) -> DaprClient:
        return DaprClient(address=self.sidecar.grpc_address)

    def advance(self, seconds: float) -> None:
        self.thread.call(self.clock.advance(seconds))

    def idle(self) -> None:
        self.thread.call(self.sidecar.idle())

    def until(self, key: str, count: int, step: float = 1.0, limit: int = 120) -> list[Any]:
        """Advance the virtual clock step by step until the app saw `count` of `key`."""
        for _ in range(limit):
            self.idle()
            if len(self.app.got(key)) >= count:
                return self.app.got(key)
            self.advance(step)
        raise AssertionError(f"{key}: saw {len(self.app.got(key))}, wanted {count}")


RESOURCES = """
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: tick}
spec:
  type: bindings.cron
  version: v1
  metadata:
    - {name: schedule, value: "@every 10s"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: unlisted}
spec:
  type: bindings.cron
  version: v1
  metadata:
    - {name: schedule, value: "@every 10s"}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {name: sink}
spec:
  type: bindings.kafka
  version: v1
  metadata:
    - {name: direction, value: output}
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: ghost}
spec:
  pubsubname: pubsub
  topic: ghost
  routes: {default: ghost}
  deadLetterTopic: poison-dlq
---
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: bulk-orders}
spec:
  pubsubname: pubsub
  topic: bulk-in
  routes: {default: bulk}
  bulkSubscribe: {enabled: true, maxMessagesCount: 10}
"""


def build_app(app: GrpcApp) -> None:
    """The handlers every test shares."""
    a = app.app

    @a.method(name="echo")
    def echo(request: InvokeMethodRequest) -> InvokeMethodResponse:
        app.saw("echo", (request.data, request.content_type, dict(request.metadata)))
        reply = InvokeMethodResponse(b"echo:" + request.data, "application/octet-stream")
        reply.headers = (("x-reply", "yes"),)
        return reply

    @a.method(name="fail")
    def fail(request: InvokeMethodRequest) -> bytes:
        raise ValueError("boom")

    attempts = {"n": 0}

    @a.subscribe(pubsub_name="pubsub", topic="orders")
    def orders(event: Any) -> TopicEventResponse:
        attempts["n"] += 1
        app.saw("orders-attempt", json.loads(event.data))
        if attempts["n"] == 1:
            return TopicEventResponse("retry")
        app.saw("orders", json.loads(event.data))
        return TopicEventResponse("success")

    flaky = {"n": 0}

    @a.subscribe(pubsub_name="pubsub", topic="flaky")
    def flaky_handler(event: Any) -> None:
        flaky["n"] += 1
        if flaky["n"] == 1:
            raise RuntimeError("first delivery fails")  # the SDK answers UNKNOWN
        app.saw("flaky", json.loads(event.data))

    @a.subscribe(pubsub_name="pubsub", topic="poison", dead_letter_topic="poison-dlq")
    def poison(event: Any) -> TopicEventResponse:
        app.saw("poison", event.data)
        return TopicEventResponse("drop")

    @a.subscribe(pubsub_name="pubsub", topic="poison-dlq")
    def poison_dlq(event: Any) -> None:
        app.saw("poison-dlq", json.loads(event.data))

    @a.subscribe(pubsub_name="pubsub", topic="routed", rule=Rule('event.data.kind == "urgent"', 1))
    def urgent(event: Any) -> None:
        app.saw("urgent", json.loads(event.data))

    @a.subscribe(pubsub_name="pubsub", topic="bulk")
    def bulk(event: Any) -> TopicEventResponse:
        data = json.loads(event.data)
        app.saw("bulk", data)
        return TopicEventResponse("drop" if data.get("n") == 2 else "success")

    @a.binding("tick")
    def tick(request: BindingRequest) -> None:
        app.saw("tick", request.binding_metadata)

    @a.binding("sink")  # listed by the App, but the component is output-only
    def sink(request: BindingRequest) -> None:
        app.saw("sink", request.data)

    @a.job_event("nightly")
    def nightly(job_event: Any) -> None:
        app.saw("nightly", job_event.data)

    @a.register_health_check
    def health() -> None:
        app.saw("health", True)
        if app.seen.get("sick"):
            raise RuntimeError("unhealthy")


@pytest.fixture
def grpc_app() -> Iterator[GrpcApp]:
    recorder = Recorder()
    app = GrpcApp(
        App(thread_pool=futures.ThreadPoolExecutor(8), interceptors=(recorder,)),
        recorder,
        free_port(),
    )
    build_app(app)
    thread = threading.Thread(target=app.app.run, args=(app.port, "127.0.0.1"), daemon=True)
    thread.start()
    yield app
    app.app.stop()
    thread.join(5)


@pytest.fixture
def make_stack(
    tmp_path: Path, grpc_app: GrpcApp, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Stack]]:
    started: list[SidecarThread] = []

    def factory(**overrides: Any) -> Stack:
        res = tmp_path / "resources"
        res.mkdir(exist_ok=True)
        (res / "resources.yaml").write_text(RESOURCES)
        cfg = SidecarConfig(
            app_id="grpcapp",
            app_port=grpc_app.port,
            app_protocol="grpc",
            http_port=free_port(),
            grpc_port=free_port(),
            resources_paths=[res],
            db_path=tmp_path / "sidecar.db",
            app_ready_timeout=10.0,
            app_api_token=TOKEN,
            **overrides,
        )
        clock = VirtualClock(start=(time.time() // 60) * 60 + 1)
        sidecar = Sidecar(cfg, clock)
        thread = SidecarThread(sidecar)
        thread.start()
        started.append(thread)
        monkeypatch.setenv("DAPR_HTTP_PORT", str(cfg.http_port))
        monkeypatch.setenv("DAPR_GRPC_PORT", str(cfg.grpc_port))
        thread.call(sidecar.wait_app_ready(timeout=15))
        return Stack(grpc_app, sidecar, thread, clock)

    yield factory
    for thread in started:
        thread.stop()


@pytest.fixture
def stack(make_stack: Callable[..., Stack]) -> Stack:
    return make_stack()


# -- service invocation ---------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", ["http", "grpc"])
def test_invoke_odd_verbs_query_and_binary_body(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, protocol: str
) -> None:
    monkeypatch.setenv("DAPR_API_METHOD_INVOCATION_PROTOCOL", protocol)
    body = b"\x00\xffnot json\n"
    with stack.client() as client:
        resp = client.invoke_method(
            "grpcapp",
            "echo",
            data=body,
            content_type="application/octet-stream",
            http_verb="PATCH",
            http_querystring=(("a", "1"), ("b", "x y")),
        )
    assert resp.data == b"echo:" + body
    (call,) = [c for c in stack.app.recorder.of("OnInvoke") if c.request.method == "echo"]
    req = call.request
    assert req.method == "echo"
    assert req.http_extension.verb == req.http_extension.PATCH
    assert req.http_extension.querystring in ("a=1&b=x+y", "a=1&b=x%20y")
    assert req.content_type == "application/octet-stream"
    assert req.data.value == body
    assert call.metadata["dapr-api-token"] == TOKEN
    ((data, ctype, _meta),) = stack.app.got("echo")
    assert (data, ctype) == (body, "application/octet-stream")


def test_invoke_over_http_maps_verbs_headers_and_errors(stack: Stack) -> None:
    base = f"{stack.sidecar.http_url}/v1.0/invoke/grpcapp/method"
    r = httpx.request(
        "DELETE",
        f"{base}/echo?x=%2F1",
        content=b"<xml/>",
        headers={"Content-Type": "text/xml", "X-Custom": "v"},
    )
    assert r.status_code == 200 and r.content == b"echo:<xml/>"
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.headers["x-reply"] == "yes"
    call = stack.app.recorder.of("OnInvoke")[-1]
    assert call.request.http_extension.verb == call.request.http_extension.DELETE
    assert call.request.http_extension.querystring == "x=%2F1"  # raw, undecoded
    assert call.metadata["x-custom"] == "v"
    assert call.metadata["dapr-content-type"] == "text/xml"  # daprd renames permanent headers
    r = httpx.request("OPTIONS", f"{base}/echo")
    assert r.status_code == 200
    verb = stack.app.recorder.of("OnInvoke")[-1].request.http_extension.verb
    assert verb == call.request.http_extension.OPTIONS
    # A method the App lacks is UNIMPLEMENTED -> 501; a raising handler -> UNKNOWN -> 500.
    r = httpx.post(f"{base}/missing", content=b"{}")
    assert r.status_code == 501
    assert r.json()["code"] == grpc.StatusCode.UNIMPLEMENTED.value[0]
    r = httpx.post(f"{base}/fail", content=b"{}")
    assert r.status_code == 500


# -- pub/sub --------------------------------------------------------------------------------------
def test_topic_event_retry_then_success(stack: Stack) -> None:
    with stack.client() as client:
        client.publish_event(
            "pubsub", "orders", json.dumps({"id": 7}), data_content_type="application/json"
        )
    assert stack.until("orders", 1) == [{"id": 7}]
    assert len(stack.app.got("orders-attempt")) == 2
    call = stack.app.recorder.of("OnTopicEvent")[0]
    req = call.request
    assert (req.topic, req.pubsub_name, req.path) == ("orders", "pubsub", "")
    assert req.type == "com.dapr.event.sent" and req.spec_version == "1.0"
    assert req.data_content_type == "application/json"
    assert req.extensions["topic"] == "orders" and "traceparent" in req.extensions
    assert "data" not in req.extensions and "id" not in req.extensions
    assert call.metadata["pubsubname"] == "pubsub"
    assert call.metadata["dapr-api-token"] == TOKEN


def test_drop_goes_to_the_dead_letter_topic(stack: Stack) -> None:
    with stack.client() as client:
        client.publish_event(
            "pubsub", "poison", json.dumps({"bad": True}), data_content_type="application/json"
        )
    assert stack.until("poison-dlq", 1) == [{"bad": True}]
    assert len(stack.app.got("poison")) == 1  # DROP is not retried


def test_handler_error_is_retried(stack: Stack) -> None:
    with stack.client() as client:
        client.publish_event(
            "pubsub", "flaky", json.dumps({"x": 1}), data_content_type="application/json"
        )
    assert stack.until("flaky", 1) == [{"x": 1}]
    assert (
        len([c for c in stack.app.recorder.of("OnTopicEvent") if c.request.topic == "flaky"]) == 2
    )


def test_unimplemented_topic_is_dropped_without_dead_letter(stack: Stack) -> None:
    with stack.client() as client:
        client.publish_event(
            "pubsub", "ghost", json.dumps({"boo": 1}), data_content_type="application/json"
        )
    stack.idle()
    stack.advance(120)
    stack.idle()
    calls = [c for c in stack.app.recorder.of("OnTopicEvent") if c.request.topic == "ghost"]
    assert len(calls) == 1 and calls[0].request.path == "ghost"
    assert stack.app.got("poison-dlq") == []  # daprd dead-letters only a DROP status


def test_routing_rules_from_list_topic_subscriptions(stack: Stack) -> None:
    subs = {s["topic"]: s for s in stack.sidecar.core.metadata_dict()["subscriptions"]}
    assert subs["routed"]["rules"][0] == {"match": 'event.data.kind == "urgent"', "path": "urgent"}
    assert subs["poison"]["deadLetterTopic"] == "poison-dlq"
    with stack.client() as client:
        client.publish_event(
            "pubsub", "routed", json.dumps({"kind": "urgent"}), data_content_type="application/json"
        )
    assert stack.until("urgent", 1) == [{"kind": "urgent"}]
    assert stack.app.recorder.of("OnTopicEvent")[-1].request.path == "urgent"


def test_bulk_topic_event(stack: Stack) -> None:
    with stack.client() as client:
        for n in (1, 2, 3):
            client.publish_event(
                "pubsub", "bulk-in", json.dumps({"n": n}), data_content_type="application/json"
            )
    got = stack.until("bulk", 3)
    assert sorted(d["n"] for d in got) == [1, 2, 3]
    stack.idle()
    bulk_calls = stack.app.recorder.of("OnBulkTopicEvent")
    assert bulk_calls and not stack.app.recorder.of("OnBulkTopicEventAlpha1")
    req = bulk_calls[0].request
    # A declarative bulk subscription routed to the App's `bulk` handler (the SDK's App has no
    # bulk option of its own).
    assert (req.topic, req.pubsub_name, req.path) == ("bulk-in", "pubsub", "bulk")
    assert req.type == "com.dapr.event.sent.bulk"
    assert req.entries[0].cloud_event.data_content_type == "application/json"
    # Every entry was answered (SUCCESS or DROP): nothing is redelivered.
    stack.advance(120)
    stack.idle()
    assert len(stack.app.got("bulk")) == 3


# -- bindings, jobs, health -----------------------------------------------------------------------
def test_input_binding_listed_by_the_app_fires_others_do_not(stack: Stack) -> None:
    assert stack.app.recorder.of("ListInputBindings")
    assert stack.sidecar.bindings.listening == {"tick"}
    stack.until("tick", 2, step=10)
    names = {c.request.name for c in stack.app.recorder.of("OnBindingEvent")}
    assert names == {"tick"}  # `unlisted` was never started
    assert "readTimeUTC" in stack.app.got("tick")[0]


def test_job_event_delivered_to_on_job_event(stack: Stack) -> None:
    data = GrpcAny()
    data.Pack(StringValue(value="hello"))
    with stack.client() as client:
        client.schedule_job_alpha1(Job(name="nightly", due_time="5s", data=data))
    stack.until("nightly", 1)
    (call,) = stack.app.recorder.of("OnJobEvent")
    assert call.request.name == "nightly" and call.request.method == "job/nightly"
    assert call.request.content_type == data.type_url
    assert call.request.data == data
    assert call.metadata["dapr-api-token"] == TOKEN


def _probe(s: Stack) -> None:
    """Move the clock one probe interval; wait (bounded) for the probe to reach the app."""
    before = len(s.app.recorder.of("HealthCheck"))
    s.advance(5)
    deadline = time.monotonic() + 2.0
    while len(s.app.recorder.of("HealthCheck")) == before and time.monotonic() < deadline:
        time.sleep(0.005)


def test_health_checks_pause_and_resume_the_app(make_stack: Callable[..., Stack]) -> None:
    s = make_stack(enable_app_health_check=True)
    ready = s.sidecar.app.ready
    assert ready.is_set() and s.app.recorder.of("HealthCheck")
    meta = s.sidecar.core.metadata_dict()["appConnectionProperties"]
    assert meta["protocol"] == "grpc"
    s.app.seen["sick"] = [True]
    healthy_probes = len(s.app.recorder.of("HealthCheck"))
    for _ in range(20):  # daprd: unhealthy after 3 failed probes, 5 s apart
        if not ready.is_set():
            break
        _probe(s)
    assert not ready.is_set()
    assert len(s.app.recorder.of("HealthCheck")) - healthy_probes >= 3
    r = httpx.post(f"{s.sidecar.http_url}/v1.0/invoke/grpcapp/method/echo", content=b"x")
    assert r.status_code == 500
    assert r.json() == {
        "errorCode": "ERR_DIRECT_INVOKE",
        "message": "failed to invoke, id: grpcapp, err: app is not in a healthy state",
    }
    with s.client() as client:  # accepted, but held until the app is healthy again
        client.publish_event(
            "pubsub", "poison-dlq", json.dumps({"held": 1}), data_content_type="application/json"
        )
    s.idle()
    assert s.app.got("poison-dlq") == []
    del s.app.seen["sick"]
    for _ in range(20):
        if ready.is_set():
            break
        _probe(s)
    assert ready.is_set()
    assert s.until("poison-dlq", 1) == [{"held": 1}]


# -- metadata -------------------------------------------------------------------------------------
def _subs_both_ways(sidecar: Sidecar) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    from dapr.proto import api_v1
    from dapr.proto.runtime.v1 import dapr_pb2_grpc

    doc = httpx.get(f"{sidecar.http_url}/v1.0/metadata").json()
    over_http = sorted(
        (
            s["pubsubname"],
            s["topic"],
            s["deadLetterTopic"],
            tuple((r["match"], r["path"]) for r in s["rules"]),
            s["type"],
        )
        for s in doc["subscriptions"]
    )
    with grpc.insecure_channel(sidecar.grpc_address) as channel:
        resp = dapr_pb2_grpc.DaprStub(channel).GetMetadata(api_v1.GetMetadataRequest())
    over_grpc = sorted(
        (
            s.pubsub_name,
            s.topic,
            s.dead_letter_topic,
            tuple((r.match, r.path) for r in s.rules.rules),
            api_v1.PubsubSubscriptionType.Name(s.type),
        )
        for s in resp.subscriptions
    )
    return over_http, over_grpc


def test_metadata_lists_the_same_subscriptions_over_http_and_grpc(stack: Stack) -> None:
    over_http, over_grpc = _subs_both_ways(stack.sidecar)
    assert over_http == over_grpc
    kinds = {(s[1], s[4]) for s in over_grpc}
    assert ("bulk-in", "DECLARATIVE") in kinds and ("orders", "PROGRAMMATIC") in kinds


def test_metadata_lists_declarative_subscriptions_without_an_app(tmp_path: Path) -> None:
    (tmp_path / "subs.yaml").write_text(
        """
apiVersion: dapr.io/v2alpha1
kind: Subscription
metadata: {name: a}
spec: {pubsubname: pubsub, topic: a, routes: {default: /a}}
---
apiVersion: dapr.io/v1alpha1
kind: Subscription
metadata: {name: b}
spec: {pubsubname: pubsub, topic: b, route: /b}
"""
    )
    cfg = SidecarConfig(
        app_id="noapp", http_port=free_port(), grpc_port=free_port(), resources_paths=[tmp_path]
    )
    thread = SidecarThread(Sidecar(cfg))
    thread.start()
    try:
        over_http, over_grpc = _subs_both_ways(thread.sidecar)
    finally:
        thread.stop()
    assert over_http == over_grpc
    assert [s[1] for s in over_grpc] == ["a", "b"]


# -- Alpha fallbacks (an app that serves only AppCallbackAlpha) ------------------------------------
def test_bulk_and_job_events_fall_back_to_alpha_on_unimplemented() -> None:
    import asyncio

    from dapr.proto.runtime.v1 import appcallback_pb2 as pb
    from dapr.proto.runtime.v1 import appcallback_pb2_grpc as pb_grpc

    from funchost.sidecar.app_channel import GrpcAppChannel
    from funchost.sidecar.component import SubscriptionDef
    from funchost.sidecar.pubsub.delivery import Message, Outcome, bulk_envelope, classify_bulk

    status = pb.TopicEventResponse.TopicEventResponseStatus
    seen: dict[str, list[Any]] = {"jobs": [], "bulk": []}

    class OnlyAlpha(pb_grpc.AppCallbackAlphaServicer):  # type: ignore[misc]
        def OnJobEventAlpha1(self, request: Any, context: Any) -> Any:
            seen["jobs"].append(request)
            return pb.JobEventResponse()

        def OnBulkTopicEventAlpha1(self, request: Any, context: Any) -> Any:
            seen["bulk"].append(request)
            first, second = request.entries[0].entry_id, request.entries[1].entry_id
            return pb.TopicEventBulkResponse(
                statuses=[
                    pb.TopicEventBulkResponseEntry(entry_id=first, status=status.DROP),
                    pb.TopicEventBulkResponseEntry(entry_id=second, status=status.SUCCESS),
                    pb.TopicEventBulkResponseEntry(entry_id="unknown", status=status.SUCCESS),
                ]
            )

    server = grpc.server(futures.ThreadPoolExecutor(2))
    pb_grpc.add_AppCallbackServicer_to_server(pb_grpc.AppCallbackServicer(), server)
    pb_grpc.add_AppCallbackAlphaServicer_to_server(OnlyAlpha(), server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    sdef = SubscriptionDef("pubsub", "t", bulk={"enabled": True})
    event = {"id": "e", "source": "s", "type": "x", "specversion": "1.0"}
    event["datacontenttype"] = "application/json"
    msgs = [
        Message(i, "pubsub", "t", json.dumps({**event, "data": {"i": i}}).encode(), {}, False)
        for i in (1, 2, 3)
    ]
    data = GrpcAny()
    data.Pack(StringValue(value="v"))

    async def drive() -> tuple[Any, dict[str, Any]]:
        channel = GrpcAppChannel(port, app_api_token=TOKEN)
        try:
            job = await channel.deliver_job("j1", data)
            envelope = bulk_envelope(sdef, msgs, False)
            answer = await channel.deliver_bulk(envelope, False, "route", None)
            outcomes = classify_bulk(answer, ["1", "2", "3"])
        finally:
            await channel.close()
        return job, outcomes

    try:
        job, outcomes = asyncio.run(drive())
    finally:
        server.stop(0)
    assert job.status == 200 and seen["jobs"][0].name == "j1"
    assert seen["jobs"][0].data == data
    # Entry 3 got no status back: it is retried (daprd); an unknown entry id is ignored.
    assert outcomes == {"1": Outcome.DROP, "2": Outcome.SUCCESS, "3": Outcome.RETRY}
    entry = seen["bulk"][0].entries[0]
    assert entry.cloud_event.data == b'{"i":1}' and seen["bulk"][0].path == "route"


# -- BindingEventResponse.to (the SDK's App always answers an empty response) ---------------------
def test_binding_reply_goes_to_the_output_bindings_it_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dapr.proto.runtime.v1 import appcallback_pb2 as pb
    from dapr.proto.runtime.v1 import appcallback_pb2_grpc as pb_grpc

    from funchost.sidecar.runner import send_binding

    class BindingApp(pb_grpc.AppCallbackServicer):  # type: ignore[misc]
        def ListInputBindings(self, request: Any, context: Any) -> Any:
            return pb.ListInputBindingsResponse(bindings=["orders-in"])

        def OnBindingEvent(self, request: Any, context: Any) -> Any:
            reply = {"got": json.loads(request.data), "meta": dict(request.metadata)}
            return pb.BindingEventResponse(to=["files"], data=json.dumps(reply).encode())

    server = grpc.server(futures.ThreadPoolExecutor(2))
    pb_grpc.add_AppCallbackServicer_to_server(BindingApp(), server)
    port = free_port()
    server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    res = tmp_path / "res"
    res.mkdir()
    (res / "b.yaml").write_text(
        f"""
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: orders-in}}
spec:
  type: bindings.kafka
  metadata:
    - {{name: topics, value: orders}}
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata: {{name: files}}
spec:
  type: bindings.localstorage
  metadata:
    - {{name: rootPath, value: "{tmp_path / "out"}"}}
"""
    )
    cfg = SidecarConfig(
        app_id="b",
        app_port=port,
        app_protocol="grpc",
        http_port=free_port(),
        grpc_port=free_port(),
        resources_paths=[res],
    )
    thread = SidecarThread(Sidecar(cfg))
    thread.start()
    try:
        thread.call(thread.sidecar.wait_app_ready(timeout=15))
        status, body = send_binding(thread.sidecar.http_url, "orders-in", {"n": 1}, {"k": "v"})
        thread.call(thread.sidecar.idle())
    finally:
        thread.stop()
        server.stop(0)
    assert status == 200
    assert json.loads(body) == {"got": {"n": 1}, "meta": {"k": "v"}}
    (written,) = list((tmp_path / "out").iterdir())
    assert json.loads(written.read_text()) == {"got": {"n": 1}, "meta": {"k": "v"}}


# -- `funchost sidecar --app-protocol grpc` as a process (the `dapr run` stand-in) ---------------
def test_cli_sidecar_with_app_protocol_grpc(
    grpc_app: GrpcApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    import subprocess
    import sys

    http_port, grpc_port = free_port(), free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from funchost.cli import main; main()",
            "sidecar",
            "--app-id",
            "grpcapp",
            "--app-port",
            str(grpc_app.port),
            "--dapr-http-port",
            str(http_port),
            "--dapr-grpc-port",
            str(grpc_port),
            "--state-dir",
            str(tmp_path),
        ],
        env={**os.environ, "FUNCHOST_APP_PROTOCOL": "grpc", "APP_API_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # 204 once the sidecar listens and the app answered
            try:
                if httpx.get(f"http://127.0.0.1:{http_port}/v1.0/healthz").status_code == 204:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "funchost sidecar did not become healthy"
            time.sleep(0.05)
        monkeypatch.setenv("DAPR_HTTP_PORT", str(http_port))
        monkeypatch.setenv("DAPR_API_METHOD_INVOCATION_PROTOCOL", "grpc")
        with DaprClient(address=f"127.0.0.1:{grpc_port}") as client:
            resp = client.invoke_method("grpcapp", "echo", data=b"hi")
            meta = client.get_metadata()
        assert resp.data == b"echo:hi"
        assert meta.application_id == "grpcapp"
        (call,) = [c for c in grpc_app.recorder.of("OnInvoke") if c.request.method == "echo"]
        assert call.metadata["dapr-api-token"] == TOKEN
    finally:
        proc.terminate()
        proc.wait(15)


# -- what goes on the wire (pure functions, daprd's rules) --------------------------------------
@pytest.mark.parametrize(
    ("event", "data"),
    [
        ({"datacontenttype": "application/json", "data": {"b": 1, "a": "é"}}, '{"a":"é","b":1}'),
        ({"datacontenttype": "text/plain", "data": "hello"}, "hello"),
        ({"datacontenttype": "application/xml", "data": "<a/>"}, "<a/>"),
        ({"datacontenttype": "application/cloudevents+json", "data": [1, 2]}, "[1,2]"),
        ({"data": "no type"}, ""),  # neither string nor JSON: left empty (daprd)
        ({"datacontenttype": "application/ld+json", "data": {"a": 1}}, ""),
        ({"datacontenttype": "application/json; charset=utf-8", "data": "s"}, '"s"'),
        ({"datacontenttype": "application/octet-stream", "data": "x"}, ""),  # left empty
        ({"datacontenttype": "application/octet-stream", "data_base64": "AAH/"}, "\x00\x01\xff"),
        ({"datacontenttype": "application/json"}, ""),
    ],
)
def test_topic_event_data_as_daprd_fills_it(event: dict[str, Any], data: str) -> None:
    from funchost.sidecar.app_channel.grpc_wire import event_data

    expected = data.encode("latin-1") if "\x00" in data else data.encode()
    assert event_data(event) == expected


def test_invoke_headers_become_grpc_metadata_as_daprd_sends_them() -> None:
    from funchost.sidecar.app_channel.grpc_wire import invoke_metadata

    meta = dict(
        invoke_metadata(
            {
                "Content-Type": "text/plain",
                "Host": "127.0.0.1",
                "X-Trace": "1",
                "traceparent": "00-abc-def-01",
                "dapr-app-id": "me",
                "dapr-api-token": "secret",
                "X-Bin-bin": "AAA=",
            }
        )
    )
    assert meta == {
        "dapr-content-type": "text/plain",
        "dapr-host": "127.0.0.1",
        "x-trace": "1",
        "traceparent": "00-abc-def-01",
    }
