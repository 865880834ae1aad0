"""Secret stores (secretstores.local.env, secretstores.local.file) and the secrets API.

Access control follows daprd's secret scoping: a `Configuration` resource with
`spec.secrets.scopes: [{storeName, defaultAccess, allowedSecrets, deniedSecrets}]`; the same
lists may also be given as comma-separated component metadata `allowedSecrets`/`deniedSecrets`.
A denied key answers 403 ERR_PERMISSION_DENIED (gRPC PERMISSION_DENIED), as daprd does.

`secretstores.local.env` honours components-contrib's `prefix` metadata (only variables with the
prefix are readable, the prefix stripped from their names) and, as components-contrib does,
never serves `APP_API_TOKEN` or `DAPR_*` variables. docs/operations.md: scoping secrets.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import grpc
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ._errors import DaprApiError, not_found
from .component import Component, ComponentError
from .components import ResourcesSubsystem
from .http_api import api, json_response, query_metadata
from .subsystem import Runtime, Subsystem


def _flatten(data: Any, sep: str, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            key = f"{prefix}{sep}{k}" if prefix else str(k)
            out.update(_flatten(v, sep, key))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.update(_flatten(v, sep, f"{prefix}{sep}{i}" if prefix else str(i)))
    else:
        out[prefix] = "" if data is None else str(data)
    return out


def _env_readable(name: str) -> bool:
    """components-contrib's local.env never serves APP_API_TOKEN or DAPR_* variables."""
    return name != "APP_API_TOKEN" and not name.upper().startswith("DAPR_")


class SecretStore:
    """One local secret store with daprd's access lists."""

    def __init__(self, comp: Component, scope: dict[str, Any] | None = None) -> None:
        self.comp = comp
        scope = scope or {}
        self.default_allow = str(scope.get("defaultAccess", "allow")).lower() != "deny"
        self.allowed = set(scope.get("allowedSecrets") or [])
        self.denied = set(scope.get("deniedSecrets") or [])
        for key, target in (("allowedSecrets", self.allowed), ("deniedSecrets", self.denied)):
            value = comp.meta(key)
            if value:
                target.update(s.strip() for s in value.split(",") if s.strip())
        self._file: dict[str, Any] | None = None
        if comp.type == "secretstores.local.file":
            self._file = self._load_file()

    def _load_file(self) -> dict[str, Any]:
        path = self.comp.meta("secretsFile")
        if not path:
            raise ComponentError(
                f"{self.comp.source}: Component {self.comp.name!r}: spec.metadata.secretsFile: "
                "missing (path of a JSON file of secrets)"
            )
        file = Path(path)
        if not file.is_absolute() and self.comp.source != "<built-in>":
            candidates = [Path(self.comp.source).parent / file, Path.cwd() / file]
            file = next((c for c in candidates if c.exists()), candidates[-1])
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ComponentError(
                f"{self.comp.source}: Component {self.comp.name!r}: spec.metadata.secretsFile: "
                f"cannot read {file}: {exc}"
            ) from None
        if self.comp.flag("multiValued"):
            return {
                k: _flatten(v, self.comp.meta("nestedSeparator", ":") or ":")
                if isinstance(v, dict)
                else {k: str(v)}
                for k, v in data.items()
            }
        flat = _flatten(data, self.comp.meta("nestedSeparator", ":") or ":")
        return {k: {k: v} for k, v in flat.items()}

    def permitted(self, key: str) -> bool:
        """daprd's `IsSecretAllowed`: a non-empty allow list decides alone, then the deny
        list, then `defaultAccess`."""
        if self.allowed:
            return key in self.allowed
        if key in self.denied:
            return False
        return self.default_allow

    def _check(self, key: str) -> None:
        if not self.permitted(key):
            raise DaprApiError(
                403,
                "ERR_PERMISSION_DENIED",
                f'access denied by policy to get "{key}" from "{self.comp.name}"',
                grpc.StatusCode.PERMISSION_DENIED,
            )

    def get(self, key: str) -> dict[str, str]:
        """The secret's key/value map (raises DaprApiError when denied or missing)."""
        self._check(key)
        if self._file is not None:
            if key not in self._file:
                raise DaprApiError(
                    500,
                    "ERR_SECRET_GET",
                    f"failed getting secret with key {key} from secret store "
                    f"{self.comp.name}: secret {key} not found",
                )
            return dict(self._file[key])
        prefix = self.comp.meta("prefix", "") or ""
        if not _env_readable(prefix + key):
            raise DaprApiError(
                500,
                "ERR_SECRET_GET",
                f"failed getting secret with key {key} from secret store {self.comp.name}: "
                f"{prefix + key} is never readable through secretstores.local.env "
                "(APP_API_TOKEN and DAPR_* are reserved)",
            )
        return {key: os.environ.get(prefix + key, "")}

    def bulk(self) -> dict[str, dict[str, str]]:
        """Every permitted secret."""
        if self._file is not None:
            items = self._file
        else:
            prefix = self.comp.meta("prefix", "") or ""
            items = {
                k[len(prefix) :]: {k[len(prefix) :]: v}
                for k, v in os.environ.items()
                if k.startswith(prefix) and _env_readable(k)
            }
        return {k: dict(v) for k, v in items.items() if self.permitted(k)}


class SecretsSubsystem(Subsystem):
    """The secrets building block (`/v1.0/secrets/...`, gRPC GetSecret/GetBulkSecret)."""

    name = "secrets"

    def __init__(self, sidecar: Runtime, resources: ResourcesSubsystem) -> None:
        super().__init__(sidecar)
        scopes: dict[str, dict[str, Any]] = {}
        for _source, spec in resources.resources.configurations:
            for scope in (spec.get("secrets") or {}).get("scopes") or []:
                if isinstance(scope, dict) and scope.get("storeName"):
                    scopes[str(scope["storeName"])] = scope
        scopes.update(resources.runtime_config.secret_scopes)  # --config wins
        self.stores = {
            c.name: SecretStore(c, scopes.get(c.name)) for c in resources.of_kind("secretstores")
        }
        resources.resolve_secrets(self._resolve_ref)

    def _resolve_ref(self, store: str, name: str, key: str, comp: Component) -> str:
        if store not in self.stores:
            raise ComponentError(
                f"{comp.source}: Component {comp.name!r}: auth.secretStore: secret store "
                f"{store!r} is not defined (local secret stores: {sorted(self.stores)})"
            )
        try:
            values = self.stores[store].get(name)
        except DaprApiError as exc:
            raise ComponentError(
                f"{comp.source}: Component {comp.name!r}: secretKeyRef {name}/{key}: {exc.message}"
            ) from None
        return values.get(key, "")

    def store(self, name: str) -> SecretStore:
        """The secret store called `name` (raises daprd's not-found error)."""
        if not self.stores:
            raise DaprApiError(
                500, "ERR_SECRET_STORES_NOT_CONFIGURED", "secret store is not configured"
            )
        try:
            return self.stores[name]
        except KeyError:
            raise not_found("secret store", name, "ERR_SECRET_STORE_NOT_FOUND", 401) from None

    def get(self, store: str, key: str) -> dict[str, str]:
        return self.store(store).get(key)

    def bulk(self, store: str) -> dict[str, dict[str, str]]:
        return self.store(store).bulk()

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/v1.0/secrets/{store}/bulk", self._http_bulk, methods=["GET"]),
            Route("/v1.0/secrets/{store}/{key:path}", self._http_get, methods=["GET"]),
        ]

    @api
    async def _http_get(self, request: Request) -> Response:
        query_metadata(request)
        p = request.path_params
        return json_response(self.get(p["store"], p["key"]))

    @api
    async def _http_bulk(self, request: Request) -> Response:
        return json_response(self.bulk(request.path_params["store"]))
