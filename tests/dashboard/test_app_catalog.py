"""Which apps the dashboard shows (in process, an empty registry in tmp): the token gate covers
the app list and `?app=` too; an unknown app id is a 404 naming the running ones; daprd's default
ports stand in only while the registry lists no app."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx

from funchost.dashboard import Targets, create_dashboard
from funchost.dashboard._apps import Catalog

from ._support import free_ports

BASE = "http://127.0.0.1:8080"


def _targets() -> Targets:
    app, sidecar = free_ports(2)  # nothing listens there
    return Targets(f"http://127.0.0.1:{app}", f"http://127.0.0.1:{sidecar}", f"127.0.0.1:{sidecar}")


def _client(catalog: Catalog, token: str | None = None) -> httpx.AsyncClient:
    app = create_dashboard(None, token=token, catalog=catalog)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


async def test_the_app_list_and_app_pages_need_the_token(tmp_path: Path) -> None:
    catalog = Catalog(_targets(), fixed_id="solo", registry=True, directory=tmp_path)
    async with _client(catalog, token="s3cret") as http:
        assert (await http.get("/api/apps")).status_code == 401
        assert (await http.get("/api/overview", params={"app": "solo"})).status_code == 401
        listed = await http.get("/api/apps", headers={"dapr-api-token": "s3cret"})
        assert listed.status_code == 200
        doc = listed.json()
        assert doc["current"] == "solo"
        assert [(a["appId"], a["health"], a["registered"]) for a in doc["apps"]] == [
            ("solo", "unreachable", False)
        ]


async def test_an_unknown_app_id_is_a_404_naming_the_running_ones(tmp_path: Path) -> None:
    catalog = Catalog(_targets(), fixed_id="solo", registry=True, directory=tmp_path)
    async with _client(catalog) as http:
        resp = await http.get("/api/workflows", params={"app": "ghost"})
        assert resp.status_code == 404
        assert "'ghost'" in resp.json()["error"] and "'solo'" in resp.json()["error"]


async def test_no_registered_app_and_no_target_says_how_to_start_one(tmp_path: Path) -> None:
    catalog = Catalog(registry=True, directory=tmp_path)
    async with _client(catalog) as http:
        assert (await http.get("/api/apps")).json()["apps"] == []
        resp = await http.get("/api/overview")
        assert resp.status_code == 404 and "funchost run" in resp.json()["error"]


async def test_the_weak_default_target_shows_only_while_the_registry_is_empty(
    tmp_path: Path,
) -> None:
    from funchost.sidecar import resolution

    catalog = Catalog(_targets(), weak=True, registry=True, directory=tmp_path)
    assert [e.app_id for e in await catalog.entries()] == [""]
    listener = socket.create_server(("127.0.0.1", 0))  # a live sidecar port for the entry
    http_port, (grpc_port,) = listener.getsockname()[1], free_ports(1)
    try:
        with resolution.register(
            "other", http_port=http_port, grpc_port=grpc_port, directory=tmp_path
        ):
            catalog._cache = None  # read the registry again now
            entries = await catalog.entries()
            assert [e.app_id for e in entries] == ["other"]
            assert entries[0].targets.sidecar_url == f"http://127.0.0.1:{http_port}"
    finally:
        listener.close()


async def test_signing_in_leads_back_to_the_app_asked_for(tmp_path: Path) -> None:
    catalog = Catalog(_targets(), fixed_id="solo", registry=True, directory=tmp_path)
    async with _client(catalog, token="s3cret") as http:
        asked = await http.get("/", params={"app": "solo"})
        assert asked.status_code == 303
        assert asked.headers["location"] == "/login?next=%2F%3Fapp%3Dsolo"
        form = await http.get(asked.headers["location"])
        assert 'name="next" value="/?app=solo"' in form.text
        signed = await http.post("/login", data={"token": "s3cret", "next": "/?app=solo"})
        assert signed.status_code == 303 and signed.headers["location"] == "/?app=solo"
        elsewhere = await http.post("/login", data={"token": "s3cret", "next": "//evil.test/"})
        assert elsewhere.headers["location"] == "/"  # never another site
