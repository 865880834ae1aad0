"""The run template's fields (dapr CLI `pkg/runfileconfig`, `pkg/standalone/run.go`), validated
with pydantic and resolved as `dapr run -f` does.

- `version` is required (an int > 0); `apps` lists the apps, started in order.
- Any shared field an app leaves empty takes the `common` value; `env` merges (app wins).
- Paths in `common` are relative to the template's folder, an app's to its `appDirPath`.
- Resources: the app's `resourcesPaths` (+ deprecated `resourcesPath`) > `<appDir>/.dapr/resources`
  > `common`'s > the default (`funchost run`'s `components/`, `bindings/` next to the folder).
- `appID` defaults to the folder's name; `appPort`, `daprHTTPPort`, `daprGRPCPort` absent ⇒ free.
- Keys the dapr CLI knows but funchost does not use (profiling, metrics port, mTLS, container
  fields...) are accepted and ignored; unknown keys give a warning with their line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from funchost.errors import FunchostError

from ._yaml import Lines, load_with_lines

Scalar = str | int | float | bool
LogDestination = Literal["console", "file", "fileAndConsole"]


class RunFileError(FunchostError):
    """The run template is malformed: the message names file, line and field."""


class SharedConfig(BaseModel):
    """Fields valid both in `common` and in an app (the CLI's SharedRunConfig)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    resources_path: str | None = Field(None, alias="resourcesPath")
    resources_paths: list[str] | None = Field(None, alias="resourcesPaths")
    components_path: str | None = Field(None, alias="componentsPath")  # deprecated alias
    config_file_path: str | None = Field(None, alias="configFilePath")
    app_protocol: Literal["http", "https", "grpc", "grpcs", "h2c"] | None = Field(
        None, alias="appProtocol"
    )
    log_level: Literal["debug", "info", "warn", "warning", "error", "fatal"] | None = Field(
        None, alias="logLevel"
    )
    env: dict[str, Scalar] | None = None
    app_log_destination: LogDestination | None = Field(None, alias="appLogDestination")
    daprd_log_destination: LogDestination | None = Field(None, alias="daprdLogDestination")
    enable_app_health_check: bool | None = Field(None, alias="enableAppHealthCheck")
    app_health_check_path: str | None = Field(None, alias="appHealthCheckPath")
    app_health_probe_interval: int | None = Field(None, alias="appHealthProbeInterval")
    app_health_probe_timeout: int | None = Field(None, alias="appHealthProbeTimeout")
    app_health_threshold: int | None = Field(None, alias="appHealthThreshold")
    api_listen_addresses: str | None = Field(None, alias="apiListenAddresses")
    enable_profiling: bool | None = Field(None, alias="enableProfiling")
    app_max_concurrency: int | None = Field(None, alias="appMaxConcurrency")
    placement_host_address: str | None = Field(None, alias="placementHostAddress")
    scheduler_host_address: str | None = Field(None, alias="schedulerHostAddress")
    app_ssl: bool | None = Field(None, alias="appSSL")
    max_body_size: str | None = Field(None, alias="maxBodySize")
    read_buffer_size: str | None = Field(None, alias="readBufferSize")
    enable_api_logging: bool | None = Field(None, alias="enableApiLogging")
    runtime_path: str | None = Field(None, alias="runtimePath")


class AppConfig(SharedConfig):
    """One entry of `apps`."""

    app_dir_path: str = Field(alias="appDirPath")
    app_id: str | None = Field(None, alias="appID")
    app_port: int | None = Field(None, alias="appPort")
    app_channel_address: str | None = Field(None, alias="appChannelAddress")
    dapr_http_port: int | None = Field(None, alias="daprHTTPPort")
    dapr_grpc_port: int | None = Field(None, alias="daprGRPCPort")
    dapr_internal_grpc_port: int | None = Field(None, alias="daprInternalGRPCPort")
    metrics_port: int | None = Field(None, alias="metricsPort")
    profile_port: int | None = Field(None, alias="profilePort")
    unix_domain_socket: str | None = Field(None, alias="unixDomainSocket")
    command: list[str] | None = None
    container_image: str | None = Field(None, alias="containerImage")
    container_image_pull_policy: Literal["Always", "Never", "IfNotPresent"] | None = Field(
        None, alias="containerImagePullPolicy"
    )
    create_service: bool | None = Field(None, alias="createService")

    @field_validator("app_dir_path")
    @classmethod
    def _not_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must name the app's folder")
        return value

    @field_validator("app_port", "dapr_http_port", "dapr_grpc_port")
    @classmethod
    def _port(cls, value: int | None) -> int | None:
        if value is not None and not -1 <= value <= 65535:
            raise ValueError("must be a TCP port (1-65535; -1 or absent picks one)")
        return value

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError('must be a list, e.g. ["python3", "app.py"]')
        return value


class RunFileModel(BaseModel):
    """The whole template."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    version: int
    name: str | None = None
    common: SharedConfig = Field(default_factory=SharedConfig)
    apps: list[AppConfig] = Field(min_length=1)

    @field_validator("version")
    @classmethod
    def _version(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("required field 'version' not found in the provided run template")
        return value


@dataclass
class AppSpec:
    """One app, resolved: what to start and how."""

    app_id: str
    app_dir: Path
    line: int
    command: list[str] | None
    app_port: int | None
    app_protocol: str
    dapr_http_port: int | None
    dapr_grpc_port: int | None
    resources: list[Path]
    config_file: Path | None
    env: dict[str, str]
    log_level: str | None
    app_log_destination: str
    daprd_log_destination: str
    app_health_path: str | None = None
    #: the sidecar's `--app-protocol`: "grpc" for a gRPC command app (grpc, grpcs), else "http"
    app_channel: str = "http"
    enable_app_health_check: bool = False
    app_health_probe_interval: int | None = None  # seconds
    app_health_probe_timeout: int | None = None  # milliseconds
    app_health_threshold: int | None = None

    @property
    def is_functions_folder(self) -> bool:
        """No `command`: the folder is a funchost app (decorated functions)."""
        return not self.command


@dataclass
class RunFile:
    """A loaded template: its apps in start order and any warnings."""

    path: Path
    name: str | None
    apps: list[AppSpec]
    warnings: list[str] = field(default_factory=list)


def _where(path: Path, lines: Lines, loc: tuple[str | int, ...]) -> str:
    probe = loc
    while probe and probe not in lines:
        probe = probe[:-1]
    line = lines.get(probe, 1)
    field_name = ""
    for part in loc:
        field_name += f"[{part}]" if isinstance(part, int) else (f".{part}" if field_name else part)
    return f"{path}:{line}: {field_name or '(top level)'}"


def _resolve_paths(base: Path, single: str | None, many: list[str] | None) -> list[Path]:
    raw = [*(many or []), *([single] if single else [])]
    return [(base / p).resolve() for p in raw]


_KNOWN_TOP = {"version", "name", "common", "apps"}


def load_run_file(path: str | Path) -> RunFile:
    """Read and resolve a run template (a file, or a folder holding `dapr.yaml`)."""
    file = Path(path)
    if file.is_dir():
        file = file / "dapr.yaml"
    if not file.is_file():
        raise RunFileError(
            f"{file}: run template not found: pass a dapr.yaml written for dapr run -f"
        )
    try:
        data, lines = load_with_lines(file.read_text(), str(file))
    except ValueError as exc:
        raise RunFileError(str(exc)) from None
    if not isinstance(data, dict):
        raise RunFileError(f"{file}:1: (top level): must be a mapping with version and apps")
    try:
        model = RunFileModel.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            err_loc = tuple(err["loc"])
            msg = err["msg"]
            if err["type"] == "missing":
                msg = f"required field '{err_loc[-1]}' not found"
            problems.append(f"{_where(file, lines, err_loc)}: {msg}")
        raise RunFileError("\n".join(problems)) from None

    base = file.parent.resolve()
    warnings = [
        f"{_where(file, lines, (key,))}: unknown field, ignored"
        for key in (model.model_extra or {})
        if key not in _KNOWN_TOP
    ]
    common = model.common
    for key in common.model_extra or {}:
        warnings.append(f"{_where(file, lines, ('common', key))}: unknown field, ignored")
    common_resources = _resolve_paths(
        base, common.resources_path or common.components_path, common.resources_paths
    )
    apps: list[AppSpec] = []
    seen: dict[str, int] = {}
    for index, app in enumerate(model.apps):
        loc: tuple[str | int, ...] = ("apps", index)
        for key in app.model_extra or {}:
            warnings.append(f"{_where(file, lines, (*loc, key))}: unknown field, ignored")
        app_dir = (base / app.app_dir_path).resolve()
        if not app_dir.is_dir():
            raise RunFileError(
                f"{_where(file, lines, (*loc, 'appDirPath'))}: folder {app_dir} does not exist: "
                "appDirPath is relative to the run template's folder"
            )
        app_id = app.app_id or app_dir.name
        if app_id in seen:
            raise RunFileError(
                f"{_where(file, lines, (*loc, 'appID'))}: app id {app_id!r} is already used by "
                f"apps[{seen[app_id]}]: give each app its own appID"
            )
        seen[app_id] = index
        own = _resolve_paths(
            app_dir, app.resources_path or app.components_path, app.resources_paths
        )
        dot_dapr = app_dir / ".dapr" / "resources"
        resources = own or ([dot_dapr] if dot_dapr.is_dir() else common_resources)
        for res in resources:
            if not res.is_dir():
                raise RunFileError(
                    f"{_where(file, lines, (*loc, 'resourcesPaths'))}: resources folder {res} "
                    "does not exist"
                )
        config = app.config_file_path or common.config_file_path
        config_base = app_dir if app.config_file_path else base
        env = {k: _env_str(v) for k, v in (common.env or {}).items()}
        env.update({k: _env_str(v) for k, v in (app.env or {}).items()})
        protocol = app.app_protocol or common.app_protocol or "http"
        channel = "grpc" if protocol in ("grpc", "grpcs") else "http"
        where_protocol = _where(file, lines, (*loc, "appProtocol"))
        if protocol in ("https", "grpcs"):
            warnings.append(
                f"{where_protocol}: the embedded sidecar calls its app without TLS; "
                f"{protocol!r} is called as {channel!r}"
            )
        if channel == "grpc" and not app.command:
            warnings.append(
                f"{where_protocol}: a functions folder is an HTTP app; {protocol!r} is recorded "
                "but the app is called over HTTP (give `command` for a gRPC app)"
            )
            channel = "http"
        health = _pick(app, common, "enable_app_health_check")
        apps.append(
            AppSpec(
                app_id=app_id,
                app_dir=app_dir,
                line=lines.get(loc, 1),
                command=list(app.command) if app.command else None,
                app_port=app.app_port if app.app_port and app.app_port > 0 else None,
                app_protocol=protocol,
                dapr_http_port=_port(app.dapr_http_port),
                dapr_grpc_port=_port(app.dapr_grpc_port),
                resources=resources,
                config_file=(config_base / config).resolve() if config else None,
                env=env,
                log_level=app.log_level or common.log_level,
                app_log_destination=app.app_log_destination
                or common.app_log_destination
                or "fileAndConsole",
                daprd_log_destination=app.daprd_log_destination
                or common.daprd_log_destination
                or "file",
                app_health_path=app.app_health_check_path or common.app_health_check_path,
                app_channel=channel,
                enable_app_health_check=bool(health),
                app_health_probe_interval=_pick(app, common, "app_health_probe_interval"),
                app_health_probe_timeout=_pick(app, common, "app_health_probe_timeout"),
                app_health_threshold=_pick(app, common, "app_health_threshold"),
            )
        )
    return RunFile(file, model.name, apps, warnings)


def _pick(app: SharedConfig, common: SharedConfig, name: str) -> Any:
    """The app's value of a shared field, else `common`'s (None when neither sets it)."""
    value = getattr(app, name)
    return value if value is not None else getattr(common, name)


def _port(value: int | None) -> int | None:
    return value if value is not None and value > 0 else None


def _env_str(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
