"""The dashboard app in process (httpx over ASGI): token gate, same-origin guard, and what it
answers when nothing runs behind it (a message, never a traceback)."""

from __future__ import annotations

import httpx

from funchost.dashboard import Targets, create_dashboard

from ._support import free_ports

BASE = "http://127.0.0.1:8080"


def _targets() -> Targets:
    app, sidecar = free_ports(2)  # bound then released: nothing listens there
    return Targets(
        app_url=f"http://127.0.0.1:{app}",
        sidecar_url=f"http://127.0.0.1:{sidecar}",
        grpc_address=f"127.0.0.1:{sidecar}",
    )


def _client(token: str | None = None) -> httpx.AsyncClient:
    app = create_dashboard(_targets(), token=token)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


async def test_the_token_is_asked_once_then_kept_in_a_cookie() -> None:
    async with _client("s3cret") as http:
        assert (await http.get("/api/overview")).status_code == 401
        assert (await http.get("/")).headers["location"] == "/login"
        assert (await http.get("/login")).status_code == 200
        assert (await http.get("/static/app.js")).status_code == 303
        signed = await http.get("/?token=s3cret")
        assert signed.status_code == 303 and signed.headers["location"] == f"{BASE}/"
        assert "token" not in signed.headers["location"]
        page = await http.get("/")
        assert page.status_code == 200 and "/static/app.js" in page.text
        assert (await http.get("/api/workflows")).status_code != 401
    async with _client("s3cret") as http:
        assert (
            await http.get("/api/topics", headers={"dapr-api-token": "s3cret"})
        ).status_code != 401
        assert (await http.get("/?token=wrong")).headers["location"] == "/login"
        login = await http.post("/login", data={"token": "s3cret"})
        assert login.status_code == 303 and "funchost_dashboard" in login.headers["set-cookie"]
        assert "httponly" in login.headers["set-cookie"].lower()


async def test_other_hosts_and_cross_site_posts_are_refused() -> None:
    async with _client() as http:
        rebound = await http.get("/api/overview", headers={"host": "attacker.example"})
        assert rebound.status_code == 403 and "loopback" in rebound.json()["error"]
        forged = await http.post(
            "/api/workflows/x/terminate", headers={"origin": "http://attacker.example"}, json={}
        )
        assert forged.status_code == 403 and "cross-site" in forged.json()["error"]


async def test_nothing_running_is_a_message() -> None:
    async with _client() as http:
        overview = (await http.get("/api/overview")).json()
        assert any("no app answers" in e for e in overview["errors"])
        assert any("no sidecar answers" in e for e in overview["errors"])
        listed = await http.get("/api/workflows")
        assert listed.status_code == 502 and "is `funchost run` up?" in listed.json()["error"]
        bad = await http.post("/api/workflows/x/explode", json={})
        assert bad.status_code == 400 and "unknown action 'explode'" in bad.json()["error"]
        page = await http.get("/api/workflows", params={"offset": "two"})
        assert page.status_code == 400 and "whole number" in page.json()["error"]
        for response in (overview, listed.json(), bad.json()):
            assert "Traceback" not in str(response)
