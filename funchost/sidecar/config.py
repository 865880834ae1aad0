"""`SidecarConfig`: how to run the embedded sidecar (daprd's flags)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .limits import DEFAULT_MAX_BODY_SIZE


@dataclass
class SidecarConfig:
    """How to run the sidecar; mirrors daprd's flags."""

    app_id: str = "app"
    app_port: int | None = None
    app_host: str = "127.0.0.1"
    http_port: int = 3500
    grpc_port: int = 50001
    resources_paths: list[Path] = field(default_factory=list)
    db_path: Path | str = ":memory:"
    api_token: str | None = None
    app_api_token: str | None = None
    app_health_path: str = "/healthz"
    app_protocol: str = "http"  # --app-protocol: "http" or "grpc"
    enable_app_health_check: bool = False
    app_health_probe_interval: float = 5.0  # seconds (daprd's defaults)
    app_health_probe_timeout: float = 0.5
    app_health_threshold: int = 3
    config_path: Path | None = None  # --config: a Dapr Configuration YAML
    app_ready_timeout: float = 60.0
    log_level: str = "warning"
    #: daprd's --max-body-size (bytes): HTTP request bodies and gRPC messages received
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    #: daprd's NAMESPACE (`<app-id>.<namespace>` targets); None = "default"
    namespace: str | None = None
    #: claim the app id in the local name registry (`funchost run`, `funchost sidecar`)
    register: bool = False
    #: the registry directory; None = FUNCHOST_REGISTRY_DIR or the user's default
    registry_dir: Path | str | None = None
    # The Configuration's spec.workflow.stateRetentionPolicy; None: FUNCHOST_WORKFLOW_RETENTION.
    workflow_retention: dict[str, str] | None = None
