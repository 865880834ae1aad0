"""The dashboard's ASGI app: one static page (vanilla JS, shipped in the package) + JSON API.

`GET /` serves `static/index.html`; the page polls `/api/...`, which reads the app and its
sidecar through `Sources`. Errors come back as `{"error": message}` with a 4xx/5xx status, and
the page shows the message. With a token configured (DAPR_API_TOKEN, else APP_API_TOKEN) every
route but `/login` needs it once: the login form, `?token=` or a `dapr-api-token` header; the
page then holds a cookie derived from it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ._sources import SourceError, Sources, Targets

__all__ = ["create_dashboard"]

STATIC = Path(__file__).parent / "static"
COOKIE = "funchost_dashboard"
_LOGIN = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>funchost dashboard: sign in</title><link rel="stylesheet" href="/static/style.css"></head>
<body class="login"><form method="post" action="/login"><h1>funchost</h1>
<p>This app runs with an API token (DAPR_API_TOKEN / APP_API_TOKEN): enter it to continue.</p>
{error}<input type="password" name="token" placeholder="token" autofocus aria-label="token">
<button type="submit">Sign in</button></form></body></html>"""

Handler = Callable[[Request], Awaitable[Any]]


def _cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"funchost-dashboard", hashlib.sha256).hexdigest()


class _TokenGate:
    """ASGI middleware: nothing but `/login` and the stylesheet without the token."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.token = token
        self.cookie = _cookie_value(token)

    def _ok(self, request: Request) -> bool:
        given = request.headers.get("dapr-api-token") or request.query_params.get("token")
        if given is not None:
            return hmac.compare_digest(given.encode(), self.token.encode())
        cookie = request.cookies.get(COOKIE, "")
        return hmac.compare_digest(cookie.encode(), self.cookie.encode())

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in ("/login", "/static/style.css"):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        response: Response
        if self._ok(request):
            if "token" in request.query_params:  # drop it from the address bar, keep a cookie
                response = RedirectResponse(str(request.url.remove_query_params("token")), 303)
                _set_cookie(response, self.cookie)
                await response(scope, receive, send)
                return
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/api/"):
            response = JSONResponse(
                {"error": "this dashboard needs the app's API token: sign in at /login"}, 401
            )
        else:
            response = RedirectResponse("/login", 303)
        await response(scope, receive, send)


_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class _SameOrigin:
    """ASGI middleware against DNS rebinding and cross-site requests: only loopback host names
    (when `loopback` is set), and a browser's state-changing request only from the page."""

    def __init__(self, app: Any, loopback: bool) -> None:
        self.app = app
        self.loopback = loopback

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if self.loopback and name not in _LOOPBACK_NAMES:
            response: Response = JSONResponse(
                {"error": f"the dashboard answers on loopback names only, not {host!r}"}, 403
            )
            await response(scope, receive, send)
            return
        origin = headers.get(b"origin", b"").decode("latin-1")
        if scope["method"] not in ("GET", "HEAD") and origin and origin.split("//", 1)[-1] != host:
            response = JSONResponse({"error": f"cross-site request from {origin} refused"}, 403)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _set_cookie(response: Response, value: str) -> None:
    response.set_cookie(COOKIE, value, httponly=True, samesite="strict", path="/")


def _error(exc: SourceError) -> JSONResponse:
    return JSONResponse({"error": exc.message, "errorCode": exc.code}, exc.status)


def _api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Answer a handler's result as JSON, a `SourceError` as `{"error"}` with its status."""

    async def wrapped(request: Request) -> Response:
        try:
            result = await handler(request)
        except SourceError as exc:
            return _error(exc)
        if isinstance(result, Response):
            return result
        return JSONResponse(result)

    return wrapped


def _int(request: Request, name: str, default: int) -> int:
    try:
        return int(request.query_params.get(name, default))
    except ValueError:
        raise SourceError(400, f"{name} must be a whole number") from None


async def _form(request: Request) -> dict[str, str]:
    """A urlencoded or JSON body as a flat dict of strings."""
    raw = (await request.body()).decode()
    if request.headers.get("content-type", "").startswith("application/json"):
        import json

        try:
            doc = json.loads(raw or "{}")
        except ValueError as exc:
            raise SourceError(400, f"the request body is not JSON: {exc}") from None
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in doc.items()}
    return {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}


def create_dashboard(
    targets: Targets, *, token: str | None = None, loopback: bool = True
) -> Starlette:
    """The dashboard app for one app and its sidecar; `token` guards it when set; `loopback`
    (served on 127.0.0.1) refuses requests naming any other host (DNS rebinding)."""
    sources = Sources(targets)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"cache-control": "no-store"})

    async def login_form(request: Request) -> Response:
        return HTMLResponse(_LOGIN.format(error=""))

    async def login(request: Request) -> Response:
        given = (await _form(request)).get("token", "")
        if token is None or hmac.compare_digest(given.encode(), token.encode()):
            response = RedirectResponse("/", 303)
            if token is not None:
                _set_cookie(response, _cookie_value(token))
            return response
        return HTMLResponse(
            _LOGIN.format(error='<p class="error">That token is not the app\'s.</p>'), 401
        )

    async def overview(request: Request) -> Any:
        return await sources.overview()

    async def workflows(request: Request) -> Any:
        return await sources.workflows(
            request.query_params.get("status", ""),
            request.query_params.get("q", ""),
            max(0, _int(request, "offset", 0)),
            min(500, max(1, _int(request, "limit", 50))),
        )

    async def instance(request: Request) -> Any:
        return await sources.instance(request.path_params["iid"])

    async def workflow_action(request: Request) -> Any:
        form = await _form(request)
        iid, action = request.path_params["iid"], request.path_params["action"]
        await sources.workflow_action(iid, action, form.get("event", ""), form.get("data", ""))
        return {"ok": True, "instanceID": iid, "action": action}

    async def topics(request: Request) -> Any:
        return await sources.topics()

    async def redrive(request: Request) -> Any:
        return await sources.redrive(request.path_params["id"])

    async def discard(request: Request) -> Any:
        await sources.discard(request.path_params["id"])
        return {"ok": True}

    async def actors(request: Request) -> Any:
        return await sources.actors()

    async def bindings(request: Request) -> Any:
        return await sources.bindings()

    async def send_binding(request: Request) -> Any:
        form = await _form(request)
        return await sources.send_binding(request.path_params["name"], form.get("data", ""))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        yield
        await sources.close()

    routes = [
        Route("/", index),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/api/overview", _api(overview)),
        Route("/api/workflows", _api(workflows)),
        Route("/api/workflows/{iid}", _api(instance)),
        Route("/api/workflows/{iid}/{action}", _api(workflow_action), methods=["POST"]),
        Route("/api/topics", _api(topics)),
        Route("/api/deadletters/{id:int}/redrive", _api(redrive), methods=["POST"]),
        Route("/api/deadletters/{id:int}", _api(discard), methods=["DELETE"]),
        Route("/api/actors", _api(actors)),
        Route("/api/bindings", _api(bindings)),
        Route("/api/bindings/{name}", _api(send_binding), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    if token:
        app.add_middleware(_TokenGate, token=token)
    app.add_middleware(_SameOrigin, loopback=loopback)  # outermost: checked first
    app.state.sources = sources
    return app
