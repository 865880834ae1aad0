"""`funchost run --reload`: the app is swapped while the embedded sidecar keeps its messages."""

from __future__ import annotations

import io
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dapr.clients import DaprClient
from rich.console import Console

from funchost.app import create_app
from funchost.discovery import discover
from funchost.observability.reload import Reloader
from funchost.settings import Settings
from funchost.sidecar import Sidecar, SidecarConfig, SidecarThread, free_port

pytestmark = pytest.mark.e2e

HANDLER = """
import os
from funchost import invoke, topic

@topic("pubsub", "jobs")
def on_job(job: dict) -> None:
    with open(os.environ["RELOAD_TEST_OUT"], "a") as out:
        out.write("{version}:" + job["id"] + "\\n")

@invoke("version", methods=("GET",))
def version() -> dict:
    return {{"version": "{version}"}}
"""


def write(folder: Path, version: str) -> None:
    (folder / "reloadable_jobs.py").write_text(textwrap.dedent(HANDLER.format(version=version)))


def wait_for(predicate, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Reloader, SidecarThread, Path, io.StringIO]]:
    folder = tmp_path / "functions"
    folder.mkdir()
    write(folder, "v1")
    out = tmp_path / "handled.txt"
    out.touch()
    monkeypatch.setenv("RELOAD_TEST_OUT", str(out))
    app_port = free_port()
    sidecar = SidecarThread(
        Sidecar(
            SidecarConfig(
                app_id="reload-test",
                app_port=app_port,
                http_port=free_port(),
                grpc_port=0,
                db_path=tmp_path / "sidecar.db",
            )
        )
    )
    sidecar.start()
    for key, value in sidecar.sidecar.env().items():
        monkeypatch.setenv(key, value)
    settings = Settings(app_port=app_port, app_id="reload-test", workflows=False)
    printed = io.StringIO()
    reloader = Reloader(
        folder,
        load=lambda: discover(folder, plugins=False),
        build=lambda registry: create_app(registry, settings),
        reconnect=lambda: sidecar.call(sidecar.sidecar.reconnect_app(), timeout=60),
        port=app_port,
        log_level="warning",
        console=Console(file=printed, width=200),
    )
    reloader.start(discover(folder, plugins=False))
    sidecar.call(sidecar.sidecar.wait_app_ready(), timeout=60)
    try:
        yield reloader, sidecar, out, printed
    finally:
        reloader.stop()
        sidecar.stop()


def test_reload_swaps_handler_without_losing_a_message(stack) -> None:  # type: ignore[no-untyped-def]
    reloader, sidecar, out, printed = stack
    folder = reloader.folder
    url = f"http://127.0.0.1:{reloader.port}/version"
    with DaprClient(address=sidecar.sidecar.grpc_address) as client:
        client.publish_event(
            "pubsub", "jobs", data='{"id": "a"}', data_content_type="application/json"
        )
        wait_for(lambda: "v1:a" in out.read_text())

        write(folder, "v2")

        def publish_while_down() -> None:
            with pytest.raises(httpx.ConnectError):
                httpx.get(url)  # the old app is really gone
            client.publish_event(
                "pubsub", "jobs", data='{"id": "b"}', data_content_type="application/json"
            )

        assert reloader.reload(while_down=publish_while_down) is True
        assert httpx.get(url).json() == {"version": "v2"}
        wait_for(lambda: "b" in out.read_text())
        assert out.read_text().splitlines() == ["v1:a", "v2:b"]

        # A syntax error: the previous (v2) app keeps serving and the error is printed.
        (folder / "reloadable_jobs.py").write_text("def broken(:\n")
        assert reloader.reload() is False
        assert "reload failed" in printed.getvalue() and "reloadable_jobs.py" in printed.getvalue()
        assert httpx.get(url).json() == {"version": "v2"}
        client.publish_event(
            "pubsub", "jobs", data='{"id": "c"}', data_content_type="application/json"
        )
        wait_for(lambda: "v2:c" in out.read_text())

        write(folder, "v3")  # fixed again: the next reload works
        assert reloader.reload() is True
        assert httpx.get(url).json() == {"version": "v3"}
    assert reloader.reloads == 2 and reloader.errors == 1


def test_watch_reloads_on_file_change(tmp_path: Path) -> None:
    import threading

    folder = tmp_path / "watched"
    folder.mkdir()
    write(folder, "w1")
    port = free_port()
    settings = Settings(app_port=port, app_id="watch-test", workflows=False)
    printed = io.StringIO()
    reloader = Reloader(
        folder,
        load=lambda: discover(folder, plugins=False),
        build=lambda registry: create_app(registry, settings),
        port=port,
        log_level="warning",
        console=Console(file=printed, width=200),
    )
    reloader.start(discover(folder, plugins=False))
    stop = threading.Event()
    watcher = threading.Thread(target=reloader.watch, args=(stop, 50), daemon=True)
    watcher.start()
    try:
        url = f"http://127.0.0.1:{port}/version"
        assert httpx.get(url).json() == {"version": "w1"}
        time.sleep(0.3)  # let the watcher arm
        write(folder, "w2")
        wait_for(lambda: reloader.reloads == 1)
        assert httpx.get(url).json() == {"version": "w2"}
        assert "changed: reloadable_jobs.py" in printed.getvalue()
    finally:
        stop.set()
        watcher.join(10)
        reloader.stop()
