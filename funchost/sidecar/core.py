"""Health and metadata endpoints of the sidecar (`/v1.0/healthz`, `/v1.0/metadata`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from .subsystem import Runtime, Subsystem


class CoreSubsystem(Subsystem):
    """Health probes and the metadata API; subsystems add to it with `metadata_info()`."""

    name = "core"

    def __init__(self, sidecar: Runtime) -> None:
        super().__init__(sidecar)
        self.extended: dict[str, str] = {}

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1.0/healthz", self.healthz, methods=["GET"]),
            Route("/v1.0/healthz/outbound", self.healthz_outbound, methods=["GET"]),
            Route("/v1.0/metadata", self.metadata_endpoint, methods=["GET"]),
            Route("/v1.0/metadata/{key}", self.set_metadata, methods=["PUT"]),
        ]

    async def healthz(self, request: Request) -> Response:
        ready = self.sidecar.started.is_set() and (
            self.sidecar.config.app_port is None or self.sidecar.app.ready.is_set()
        )
        return Response(status_code=204 if ready else 500)

    async def healthz_outbound(self, request: Request) -> Response:
        return Response(status_code=204 if self.sidecar.started.is_set() else 500)

    def metadata_dict(self) -> dict[str, Any]:
        """The `/v1.0/metadata` document, gathered from every subsystem's `metadata_info()`."""
        doc: dict[str, Any] = {
            "id": self.sidecar.config.app_id,
            "runtimeVersion": "funchost-embedded",
            "enabledFeatures": [],
            "extended": dict(self.extended),
            "appConnectionProperties": {
                "port": self.sidecar.config.app_port,
                "protocol": self.sidecar.config.app_protocol,
                "channelAddress": self.sidecar.config.app_host,
            },
        }
        for sub in self.sidecar.subsystems.values():
            doc.update(sub.metadata_info())
        return doc

    async def metadata_endpoint(self, request: Request) -> Response:
        return JSONResponse(self.metadata_dict())

    async def set_metadata(self, request: Request) -> Response:
        self.extended[request.path_params["key"]] = (await request.body()).decode()
        return Response(status_code=204)
