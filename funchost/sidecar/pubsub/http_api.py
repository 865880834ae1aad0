"""Pub/sub on the Dapr HTTP API (publish, bulk publish) and parsing of `GET /dapr/subscribe`."""

from __future__ import annotations

import json
import logging
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .._errors import DaprApiError
from ..cloudevents import is_json_content_type
from ..component import SubscriptionDef
from ..http_api import api, go_fields, json_body, json_response, query_metadata
from ..limits import BodyTooLarge

log = logging.getLogger("funchost.sidecar.pubsub")

# daprd's bulkPublishMessageEntry JSON tags (decoded case-insensitively, as Go does)
_BULK_ENTRY_FIELDS = ("entryId", "event", "contentType", "metadata")


def parse_subscribe(doc: Any) -> list[SubscriptionDef]:
    subs: list[SubscriptionDef] = []
    for item in doc if isinstance(doc, list) else []:
        if not isinstance(item, dict) or not item.get("pubsubname") or not item.get("topic"):
            log.warning("GET /dapr/subscribe: skipping malformed item %r", item)
            continue
        routes = item.get("routes") or {}
        rules = [
            (str(r.get("match") or ""), str(r.get("path") or ""))
            for r in (routes.get("rules") or [])
            if isinstance(r, dict) and r.get("path")
        ]
        subs.append(
            SubscriptionDef(
                pubsubname=str(item["pubsubname"]),
                topic=str(item["topic"]),
                route=str(item.get("route") or ""),
                rules=rules,
                default=str(routes.get("default") or ""),
                dead_letter_topic=str(item.get("deadLetterTopic") or ""),
                metadata={str(k): str(v) for k, v in (item.get("metadata") or {}).items()},
                bulk=dict(item.get("bulkSubscribe") or {}),
                source="app",
            )
        )
    return subs


def pubsub_routes(pubsub: Any) -> list[BaseRoute]:
    """`/v1.0/publish/...` and bulk publish routes bound to the pub/sub subsystem."""

    @api
    async def publish(request: Request) -> Response:
        p = request.path_params
        try:
            data = await request.body()
        except BodyTooLarge as exc:  # daprd: the read error of a publish is a publish error
            raise DaprApiError(500, "ERR_PUBSUB_PUBLISH_MESSAGE", str(exc)) from None
        await pubsub.publish(
            p["pubsub"],
            p["topic"],
            data,
            request.headers.get("content-type", "text/plain"),
            query_metadata(request),
            request.headers.get("traceparent", ""),
            request.headers.get("tracestate", ""),
        )
        return Response(status_code=204)

    @api
    async def bulk(request: Request) -> Response:
        p = request.path_params
        body = await json_body(request)
        if not isinstance(body, list):
            raise DaprApiError(
                400,
                "ERR_PUBSUB_EVENTS_SER",
                f"error when unmarshaling the request for topic {p['topic']} pubsub "
                f"{p['pubsub']}: the body must be a JSON array of entries",
                grpc.StatusCode.INVALID_ARGUMENT,
            ).with_error_info("DAPR_PUBSUB_UNMARSHAL_EVENTS")
        entries = []
        for raw in body:
            item = go_fields(raw, _BULK_ENTRY_FIELDS) if isinstance(raw, dict) else {}
            entry_id = str(item.get("entryId") or "")
            ctype = str(item.get("contentType") or "")
            event = item.get("event")
            if isinstance(event, str) and not is_json_content_type(ctype):
                data = event.encode()
            else:
                data = json.dumps(event).encode()
                ctype = ctype or "application/json"
            meta = {str(k): str(v) for k, v in (item.get("metadata") or {}).items()}
            entries.append((entry_id, data, ctype, meta))
        failed = await pubsub.bulk_publish(
            p["pubsub"], p["topic"], entries, query_metadata(request)
        )
        if failed:
            return json_response(
                {
                    "failedEntries": [{"entryId": e, "error": m} for e, m in failed],
                    "errorCode": "ERR_PUBSUB_PUBLISH_MESSAGE",
                },
                status=500,
            )
        return Response(status_code=204)

    return [  # the static `bulk` segment wins over a pubsub name, as in daprd's router
        Route("/v1.0-alpha1/publish/bulk/{pubsub}/{topic:path}", bulk, methods=["POST"]),
        Route("/v1.0/publish/bulk/{pubsub}/{topic:path}", bulk, methods=["POST"]),
        Route("/v1.0/publish/{pubsub}/{topic:path}", publish, methods=["POST"]),
    ]
