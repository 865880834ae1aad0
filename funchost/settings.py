"""Host settings: every option reads a ``FUNCHOST_*`` environment variable (Dapr's own too)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


def _env(name: str, *dapr: str) -> AliasChoices:
    return AliasChoices(f"FUNCHOST_{name}", *dapr)


class Settings(BaseSettings):
    """What the host needs to know. Env: ``FUNCHOST_<FIELD>``, plus the Dapr names listed."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    app_id: str = Field("funchost", validation_alias=_env("APP_ID", "APP_ID"))
    host: str = Field("127.0.0.1", validation_alias=_env("HOST"))
    app_port: int = Field(8000, validation_alias=_env("APP_PORT", "APP_PORT"))
    dapr_host: str = Field("127.0.0.1", validation_alias=_env("DAPR_HOST", "DAPR_RUNTIME_HOST"))
    dapr_http_port: int = Field(3500, validation_alias=_env("DAPR_HTTP_PORT", "DAPR_HTTP_PORT"))
    dapr_grpc_port: int = Field(50001, validation_alias=_env("DAPR_GRPC_PORT", "DAPR_GRPC_PORT"))
    dapr_api_token: str | None = Field(
        None, validation_alias=_env("DAPR_API_TOKEN", "DAPR_API_TOKEN")
    )
    app_api_token: str | None = Field(None, validation_alias=_env("APP_API_TOKEN", "APP_API_TOKEN"))
    plugins: str | None = Field(None, validation_alias=_env("PLUGINS"))
    log_level: str = Field("info", validation_alias=_env("LOG_LEVEL"))
    sidecar_timeout: float = Field(60.0, validation_alias=_env("SIDECAR_TIMEOUT"))
    workflows: bool = Field(True, validation_alias=_env("WORKFLOWS"))
    # The app's workflow worker: work items it runs at once (I/O-bound activities mostly wait,
    # so the defaults fan 1,000 sleeping activities out at once) and its thread pool for sync
    # activities. A Dapr Configuration (`config`) with `spec.workflow.maxConcurrent*` wins over
    # the defaults; an explicit FUNCHOST_WORKFLOW_MAX_CONCURRENT_* wins over both.
    workflow_max_concurrent_activities: int = Field(
        1000, validation_alias=_env("WORKFLOW_MAX_CONCURRENT_ACTIVITIES")
    )
    workflow_max_concurrent_workflows: int = Field(
        1000, validation_alias=_env("WORKFLOW_MAX_CONCURRENT_WORKFLOWS")
    )
    workflow_threads: int = Field(64, validation_alias=_env("WORKFLOW_THREADS"))
    config: str | None = Field(None, validation_alias=_env("CONFIG"))  # Dapr Configuration file
    schedule_jobs: bool = Field(True, validation_alias=_env("SCHEDULE_JOBS"))
    state_store: str = Field("statestore", validation_alias=_env("STATE_STORE"))
    pubsub: str = Field("pubsub", validation_alias=_env("PUBSUB"))
    actor_client: str = Field("grpc", validation_alias=_env("ACTOR_CLIENT"))  # grpc | http
    enable: str | None = Field(None, validation_alias=_env("ENABLE"))  # scale unit, see manifests

    @property
    def dapr_http_endpoint(self) -> str:
        """``http://host:port`` of the sidecar's HTTP API."""
        return f"http://{self.dapr_host}:{self.dapr_http_port}"

    @property
    def dapr_grpc_address(self) -> str:
        """``host:port`` of the sidecar's gRPC API."""
        return f"{self.dapr_host}:{self.dapr_grpc_port}"
