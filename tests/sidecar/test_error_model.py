"""daprd's error model, one row per documented error, asserted over HTTP and gRPC.

Each row gives what daprd answers (`dapr/dapr: pkg/messages/predefined.go`, `pkg/api/errors/*.go`,
shared/protocol/app-channel-multi-app-errors.md §2): the HTTP status and `errorCode`, the gRPC
status code, and the `google.rpc.ErrorInfo` reason where daprd sets one (read by the SDK's
`DaprGrpcError.error_code()`, and present in the HTTP `details` unless daprd answers HTTP in the
legacy shape). The gRPC side goes through the Python SDK's own clients.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import httpx
import pytest
from dapr.clients import DaprClient
from dapr.clients.exceptions import DaprGrpcError
from dapr.proto import api_v1
from dapr.proto.runtime.v1 import dapr_pb2_grpc

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.filterwarnings("ignore:The Distributed Lock API is an Alpha:UserWarning"),
    pytest.mark.filterwarnings("ignore:The State Store Query API is an Alpha:UserWarning"),
]

CE = "application/cloudevents+json"
JSON = "application/json"
BULK_DUPLICATE = b'[{"entryId":"1","event":{}},{"entryID":"1","event":{}}]'


@dataclass(frozen=True)
class Row:
    name: str
    http: tuple[str, str, bytes | None, dict[str, str]]  # method, path, body, headers
    status: int
    error_code: str
    call: Callable[[DaprClient, Any], Any]  # the same failure through the gRPC API
    grpc_code: grpc.StatusCode
    reason: str | None = None  # ErrorInfo reason (gRPC), None where daprd sets none
    http_details: bool = True  # the HTTP body carries the ErrorInfo too
    http_info_metadata: dict[str, str] | None = None  # ErrorInfo.metadata daprd sets on HTTP


def _seed_etag(c: DaprClient) -> None:
    c.save_state("statestore", "etagged", "v1")
    c.save_state("statestore", "etagged", "v2")  # etag is now "2"


def _bulk_duplicate(stub: Any) -> Any:
    entry = api_v1.BulkPublishRequestEntry(entry_id="1", event=b"{}", content_type=JSON)
    req = api_v1.BulkPublishRequest(pubsub_name="pubsub", topic="t", entries=[entry, entry])
    return stub.BulkPublishEvent(req)


def _invoke(stub: Any) -> Any:
    from dapr.proto import common_v1

    req = api_v1.InvokeServiceRequest(id="nosuchapp", message=common_v1.InvokeRequest(method="m"))
    return stub.InvokeService(req)


def _actor(stub: Any) -> Any:
    req = api_v1.InvokeActorRequest(actor_type="NoSuchActor", actor_id="1", method="m")
    return stub.InvokeActor(req)


ROWS = [
    Row(
        "state store not found",
        ("GET", "/v1.0/state/nostore/k", None, {}),
        400,
        "ERR_STATE_STORE_NOT_FOUND",
        lambda c, s: c.get_state("nostore", "k"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DAPR_STATE_NOT_FOUND",
        http_info_metadata={"appID": "testapp"},
    ),
    Row(
        "state key illegal",
        ("POST", "/v1.0/state/statestore", b'[{"key":"key||","value":1}]', {}),
        400,
        "ERR_MALFORMED_REQUEST",
        lambda c, s: c.save_state("statestore", "key||", "v"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DAPR_STATE_ILLEGAL_KEY",
    ),
    Row(
        "etag mismatch",
        ("POST", "/v1.0/state/statestore", b'[{"key":"etagged","value":1,"etag":"1"}]', {}),
        409,
        "ERR_STATE_SAVE",
        lambda c, s: c.save_state("statestore", "etagged", "x", etag="1"),
        grpc.StatusCode.ABORTED,
        "ERR_STATE_SAVE",
        http_details=False,
    ),
    Row(
        "etag malformed",
        ("POST", "/v1.0/state/statestore", b'[{"key":"etagged","value":1,"etag":"abc"}]', {}),
        400,
        "ERR_STATE_SAVE",
        lambda c, s: c.save_state("statestore", "etagged", "x", etag="abc"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "ERR_STATE_SAVE",
        http_details=False,
    ),
    Row(
        "state query unsupported",
        ("POST", "/v1.0-alpha1/state/statestore/query", b'{"filter":{}}', {}),
        500,
        "ERR_STATE_STORE_NOT_SUPPORTED",
        lambda c, s: c.query_state("statestore", '{"filter":{}}'),
        grpc.StatusCode.INTERNAL,
        "DAPR_STATE_QUERYING_NOT_SUPPORTED",
    ),
    Row(
        "pubsub not found",
        ("POST", "/v1.0/publish/nopubsub/t", b"{}", {"content-type": "application/json"}),
        404,
        "ERR_PUBSUB_NOT_FOUND",
        lambda c, s: c.publish_event("nopubsub", "t", "{}"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DAPR_PUBSUB_NOT_FOUND",
    ),
    Row(
        "topic empty",
        ("POST", "/v1.0/publish/pubsub/", b"{}", {"content-type": "application/json"}),
        404,
        "ERR_TOPIC_NAME_EMPTY",
        lambda c, s: c.publish_event("pubsub", "", "{}"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DAPR_PUBSUB_TOPIC_NAME_EMPTY",
    ),
    Row(
        "cloudevent malformed",
        ("POST", "/v1.0/publish/pubsub/t", b"{not json", {"content-type": CE}),
        500,
        "ERR_PUBSUB_CLOUD_EVENTS_SER",
        lambda c, s: c.publish_event("pubsub", "t", "{not json", data_content_type=CE),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DAPR_PUBSUB_CLOUD_EVENT_CREATION",
    ),
    Row(
        "bulk publish entryId duplicated",
        ("POST", "/v1.0-alpha1/publish/bulk/pubsub/t", BULK_DUPLICATE, {}),
        400,
        "ERR_PUBSUB_EVENTS_SER",
        lambda c, s: _bulk_duplicate(s),
        grpc.StatusCode.INVALID_ARGUMENT,
        "DAPR_PUBSUB_MARSHAL_EVENTS",
    ),
    Row(
        # the embedded sidecar always has its built-in `lockstore`, so an unknown name is
        # ERR_LOCK_STORE_NOT_FOUND (daprd answers ERR_LOCK_STORE_NOT_CONFIGURED only with none)
        "lock store not found",
        (
            "POST",
            "/v1.0-alpha1/lock/nolocks",
            b'{"resourceId":"r","lockOwner":"o","expiryInSeconds":5}',
            {},
        ),
        400,
        "ERR_LOCK_STORE_NOT_FOUND",
        lambda c, s: c.try_lock("nolocks", "r", "o", 5),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    Row(
        "binding not found",
        ("POST", "/v1.0/bindings/nobinding", b'{"operation":"create"}', {}),
        500,
        "ERR_INVOKE_OUTPUT_BINDING",
        lambda c, s: c.invoke_binding("nobinding", "create", "x"),
        grpc.StatusCode.INTERNAL,
    ),
    Row(
        "secret store not found",
        ("GET", "/v1.0/secrets/nosecrets/k", None, {}),
        401,
        "ERR_SECRET_STORE_NOT_FOUND",
        lambda c, s: c.get_secret("nosecrets", "k"),
        grpc.StatusCode.INVALID_ARGUMENT,
    ),
    Row(
        "invoke: app id unresolvable",
        ("POST", "/v1.0/invoke/nosuchapp/method/m", b"{}", {}),
        500,
        "ERR_DIRECT_INVOKE",
        lambda c, s: _invoke(s),
        grpc.StatusCode.INTERNAL,
    ),
    Row(
        "actor type not found",
        ("POST", "/v1.0/actors/NoSuchActor/1/method/m", b"{}", {}),
        500,
        "ERR_ACTOR_INSTANCE_MISSING",
        lambda c, s: _actor(s),
        grpc.StatusCode.INTERNAL,
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_error_over_http_and_grpc(make_sidecar: Any, row: Row) -> None:
    h = make_sidecar()
    with DaprClient(address=h.grpc_address) as c:
        _seed_etag(c)
        method, path, body, headers = row.http
        r = httpx.request(method, h.http_url + path, content=body, headers=headers, timeout=30)
        assert r.status_code == row.status, r.text
        doc = r.json()
        assert doc["errorCode"] == row.error_code, doc
        assert doc["message"]
        http_reasons = [d.get("reason") for d in doc.get("details", [])]
        if row.reason and row.http_details:
            assert row.reason in http_reasons, doc
            info = next(d for d in doc["details"] if d.get("reason") == row.reason)
            assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
            assert info["domain"] == "dapr.io"
            if row.http_info_metadata is not None:
                assert info["metadata"] == row.http_info_metadata
        else:
            assert "details" not in doc, doc

        channel = grpc.insecure_channel(h.grpc_address)
        stub = dapr_pb2_grpc.DaprStub(channel)
        try:
            with pytest.raises((DaprGrpcError, grpc.RpcError)) as err:
                row.call(c, stub)
        finally:
            channel.close()
        exc = err.value
        assert exc.code() == row.grpc_code, exc.details()
        if isinstance(exc, DaprGrpcError):
            expected = row.reason or "UNKNOWN"
            assert exc.error_code() == expected


def test_illegal_key_details_match_daprd(make_sidecar: Any) -> None:
    """The rich details of `key||`, as daprd's integration tests assert them."""
    h = make_sidecar(app=False)
    msg = "input key/keyPrefix 'key||' can't contain '||'"
    with DaprClient(address=h.grpc_address) as c, pytest.raises(DaprGrpcError) as err:
        c.save_state("statestore", "key||", "v")
    details = err.value.status_details()
    assert err.value.details() == msg
    assert details.error_info["reason"] == "DAPR_STATE_ILLEGAL_KEY"
    assert details.error_info["domain"] == "dapr.io"
    assert details.resource_info["resource_type"] == "state"
    assert details.resource_info["resource_name"] == "statestore"
    assert details.bad_request["field_violations"] == [{"field": "key||", "description": msg}]
    for path in ("/v1.0/state/statestore/key||", "/v1.0/state/statestore/a||b"):
        r = httpx.get(h.http_url + path)
        assert r.status_code == 400 and r.json()["errorCode"] == "ERR_MALFORMED_REQUEST"
    r = httpx.post(h.http_url + "/v1.0/state/statestore", json=[{"key": "key||", "value": 1}])
    msg = f"api error: code = InvalidArgument desc = {msg}"  # daprd wraps it again on HTTP
    assert r.json() == {
        "errorCode": "ERR_MALFORMED_REQUEST",
        "message": msg,
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.BadRequest",
                "field_violations": [{"field": "key||", "description": msg}],
            },
            {
                "@type": "type.googleapis.com/google.rpc.ResourceInfo",
                "resource_type": "state",
                "resource_name": "statestore",
                "owner": "",
                "description": "",
            },
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "DAPR_STATE_ILLEGAL_KEY",
                "domain": "dapr.io",
                "metadata": None,
            },
        ],
    }


def test_pubsub_name_empty_over_grpc(make_sidecar: Any) -> None:
    h = make_sidecar(app=False)
    with DaprClient(address=h.grpc_address) as c, pytest.raises(DaprGrpcError) as err:
        c.publish_event("", "t", "{}")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.error_code() == "DAPR_PUBSUB_NAME_EMPTY"


def test_workflow_instance_not_found(make_sidecar: Any) -> None:
    """Terminating or purging an unknown instance: 404 ERR_INSTANCE_ID_NOT_FOUND / NOT_FOUND."""
    from dapr.ext.workflow import DaprWorkflowClient

    h = make_sidecar(app=False)
    for op in ("terminate", "purge"):
        r = httpx.post(f"{h.http_url}/v1.0/workflows/dapr/nosuch/{op}")
        assert r.status_code == 404, r.text
        assert r.json()["errorCode"] == "ERR_INSTANCE_ID_NOT_FOUND"
    host, port = h.grpc_address.rsplit(":", 1)
    wf = DaprWorkflowClient(host=host, port=port)
    with pytest.raises(grpc.RpcError) as err:
        wf.terminate_workflow("nosuch")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        wf.purge_workflow("nosuch")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_rich_details_through_the_sdk_http_client(make_sidecar: Any) -> None:
    """The SDK's own HTTP client raises `DaprHttpError` carrying daprd's errorCode and details."""
    import asyncio
    import json

    from dapr.clients.exceptions import DaprHttpError
    from dapr.clients.http.client import DaprHttpClient
    from dapr.serializers import DefaultJSONSerializer

    h = make_sidecar(app=False)
    client = DaprHttpClient(DefaultJSONSerializer())
    url = f"{h.http_url}/v1.0/state/statestore"
    with pytest.raises(DaprHttpError) as err:
        asyncio.run(client.send_bytes("POST", url, b'[{"key":"key||","value":1}]'))
    exc = err.value
    assert exc.status_code == 400 and exc.error_code == "ERR_MALFORMED_REQUEST"
    assert exc.message == (
        "api error: code = InvalidArgument desc = input key/keyPrefix 'key||' can't contain '||'"
    )
    details = json.loads(exc.raw_response_bytes or b"{}")["details"]
    assert [d["@type"].rsplit(".", 1)[1] for d in details] == [
        "BadRequest",
        "ResourceInfo",
        "ErrorInfo",
    ]
