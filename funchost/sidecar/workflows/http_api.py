"""The workflow management HTTP API: `/v1.0/workflows/{component}/...` (also `v1.0-beta1`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ._pb import STATUS_NAMES, trace_of
from .engine import Engine, WorkflowError
from .state import Instance

_HTTP = {"not_found": 404, "already_exists": 409, "failed_precondition": 400, "invalid": 400}
_ERR = {
    "start": "ERR_START_WORKFLOW",
    "get": "ERR_GET_WORKFLOW",
    "terminate": "ERR_TERMINATE_WORKFLOW",
    "raise": "ERR_RAISE_EVENT_WORKFLOW",
    "pause": "ERR_PAUSE_WORKFLOW",
    "resume": "ERR_RESUME_WORKFLOW",
    "purge": "ERR_PURGE_WORKFLOW",
}


def _rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def workflow_json(inst: Instance, note: str | None = None) -> dict[str, Any]:
    """The document `GET /v1.0/workflows/dapr/{id}` returns (`note`: why it waits on another
    app, shown as the custom status while the workflow has set none)."""
    custom = inst.custom_status if inst.custom_status is not None else note
    props: dict[str, str] = {"dapr.workflow.custom_status": custom or ""}
    if inst.input is not None:
        props["dapr.workflow.input"] = inst.input
    if inst.output is not None:
        props["dapr.workflow.output"] = inst.output
    details = inst.failure_details()
    if details is not None:
        props["dapr.workflow.failure.error_type"] = details.errorType
        props["dapr.workflow.failure.error_message"] = details.errorMessage
    return {
        "instanceID": inst.instance_id,
        "workflowName": inst.name,
        "createdAt": _rfc3339(inst.created),
        "lastUpdatedAt": _rfc3339(inst.updated),
        "runtimeStatus": STATUS_NAMES.get(inst.status, str(inst.status)),
        "properties": props,
    }


def _error(op: str, exc: WorkflowError) -> JSONResponse:
    # daprd answers terminate/purge of an unknown instance with ErrWorkflowInstanceNotFound
    missing = exc.code == "not_found" and op in ("terminate", "purge")
    code = "ERR_INSTANCE_ID_NOT_FOUND" if missing else _ERR[op]
    return JSONResponse({"errorCode": code, "message": str(exc)}, _HTTP.get(exc.code, 500))


async def _body(request: Request) -> str | None:
    raw = await request.body()
    return raw.decode() if raw else None


class WorkflowHttpApi:
    """Starlette handlers bound to an engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def routes(self) -> list[BaseRoute]:
        out: list[BaseRoute] = []
        for ver in ("v1.0", "v1.0-beta1", "v1.0-alpha1"):
            base = f"/{ver}/workflows/{{component}}"
            out += [
                Route(f"{base}/{{name}}/start", self.start, methods=["POST"]),
                Route(f"{base}/{{iid}}/terminate", self.terminate, methods=["POST"]),
                Route(f"{base}/{{iid}}/raiseEvent/{{event}}", self.raise_event, methods=["POST"]),
                Route(f"{base}/{{iid}}/pause", self.pause, methods=["POST"]),
                Route(f"{base}/{{iid}}/resume", self.resume, methods=["POST"]),
                Route(f"{base}/{{iid}}/purge", self.purge, methods=["POST"]),
                Route(f"{base}/{{iid}}", self.get, methods=["GET"]),
            ]
        return out

    async def start(self, request: Request) -> Response:
        iid = request.query_params.get("instanceID") or ""
        try:
            name, body = request.path_params["name"], await _body(request)
            iid = self.engine.start(name, iid, body, trace=trace_of(None, request.headers.items()))
        except WorkflowError as exc:
            return _error("start", exc)
        return JSONResponse({"instanceID": iid}, 202)

    async def get(self, request: Request) -> Response:
        inst = self.engine.get(request.path_params["iid"])
        if inst is None:
            exc = WorkflowError(
                "not_found", f"no such instance exists: '{request.path_params['iid']}'"
            )
            return _error("get", exc)
        return JSONResponse(workflow_json(inst, self.engine.waiting_note(inst.instance_id)))

    async def terminate(self, request: Request) -> Response:
        recursive = request.query_params.get("non_recursive", "false").lower() != "true"
        try:
            self.engine.terminate(request.path_params["iid"], None, recursive)
        except WorkflowError as exc:
            return _error("terminate", exc)
        return Response(status_code=202)

    async def raise_event(self, request: Request) -> Response:
        try:
            self.engine.raise_event(
                request.path_params["iid"], request.path_params["event"], await _body(request)
            )
        except WorkflowError as exc:
            return _error("raise", exc)
        return Response(status_code=202)

    async def pause(self, request: Request) -> Response:
        try:
            self.engine.suspend(request.path_params["iid"], None)
        except WorkflowError as exc:
            return _error("pause", exc)
        return Response(status_code=202)

    async def resume(self, request: Request) -> Response:
        try:
            self.engine.resume(request.path_params["iid"], None)
        except WorkflowError as exc:
            return _error("resume", exc)
        return Response(status_code=202)

    async def purge(self, request: Request) -> Response:
        recursive = request.query_params.get("non_recursive", "false").lower() != "true"
        try:
            self.engine.purge(request.path_params["iid"], recursive)
        except WorkflowError as exc:
            return _error("purge", exc)
        return Response(status_code=202)
