"""The local name registry: claims, lookups, stale entries, duplicates across real processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from funchost.sidecar import resolution
from funchost.sidecar.resolution import AppIdTaken

# A separate process that claims an id, opens a port, prints its address and waits for stdin.
_HOLDER = """
import socket, sys
from funchost.sidecar import resolution
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
port = srv.getsockname()[1]
reg = resolution.register(sys.argv[1], http_port=port, grpc_port=port, directory=sys.argv[2])
print(port, flush=True)
sys.stdin.readline()
if sys.argv[3] == "clean":
    reg.close()
"""


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    return tmp_path / "registry"


@pytest.fixture
def listener() -> Iterator[int]:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        yield int(srv.getsockname()[1])


def _holder(app_id: str, registry: Path, mode: str = "clean") -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, app_id, str(registry), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"holder process for {app_id!r} exited early (code {proc.wait()})"
    return proc, int(line)


def test_register_resolve_list_and_clean_close(registry: Path, listener: int) -> None:
    reg = resolution.register(
        "orders", http_port=listener, grpc_port=listener + 1, app_port=8001, directory=registry
    )
    entry = json.loads((registry / "orders.json").read_text())
    assert entry["pid"] == os.getpid() and entry["http_port"] == listener
    found = resolution.resolve("orders", directory=registry)
    assert found is not None and found.http_url == f"http://127.0.0.1:{listener}"
    assert found.namespace == "default" and found.app_port == 8001
    assert resolution.resolve("orders", "default", directory=registry) == found
    assert resolution.resolve("orders", "other-ns", directory=registry) is None
    assert [a.app_id for a in resolution.list_apps(registry)] == ["orders"]
    reg.close()
    assert not (registry / "orders.json").exists()
    assert resolution.resolve("orders", directory=registry) is None
    reg.close()  # twice is fine


def test_second_live_process_cannot_claim_the_id(registry: Path) -> None:
    proc, port = _holder("billing", registry)
    try:
        with pytest.raises(AppIdTaken) as err:
            resolution.claim("billing", directory=registry)
        assert "'billing'" in str(err.value) and f"pid {proc.pid}" in str(err.value)
        found = resolution.resolve("billing", directory=registry)
        assert found is not None and found.pid == proc.pid and found.http_port == port
    finally:
        proc.communicate("\n", timeout=10)
    assert not (registry / "billing.json").exists()  # removed on clean shutdown
    resolution.claim("billing", directory=registry).close()


def test_entry_of_a_killed_process_is_ignored_cleaned_and_reclaimable(registry: Path) -> None:
    proc, _ = _holder("stale-app", registry, mode="dirty")
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    assert (registry / "stale-app.json").exists()
    assert resolution.resolve("stale-app", directory=registry) is None
    assert not (registry / "stale-app.json").exists()
    with resolution.claim("stale-app", directory=registry) as reg:
        assert reg.publish(1, 2).pid == os.getpid()


def test_entry_whose_port_closed_is_ignored_and_cleaned(registry: Path) -> None:
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        port = int(srv.getsockname()[1])  # bound, never listening: connections are refused
        with resolution.register("closed", http_port=port, grpc_port=port, directory=registry):
            assert resolution.resolve("closed", directory=registry) is None
            assert resolution.list_apps(registry) == []
            assert not (registry / "closed.json").exists()


def test_invalid_ids_are_refused_and_never_resolve(registry: Path) -> None:
    with pytest.raises(ValueError, match="not valid"):
        resolution.claim("../etc", directory=registry)
    assert resolution.resolve("a.b.c", directory=registry) is None


def test_registry_dir_follows_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FUNCHOST_REGISTRY_DIR", str(tmp_path / "x"))
    assert resolution.registry_dir() == tmp_path / "x"
    monkeypatch.delenv("FUNCHOST_REGISTRY_DIR")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert resolution.registry_dir() == tmp_path / "funchost" / "apps"
