"""A state store shared by two apps: both sidecars load the same component (a `state.sqlite`
file named by an absolute `connectionString`, or `state.redis`) and see each other's keys per
Dapr's `keyPrefix`: `appid` (default) keeps them apart, `name` and `none` share them."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import pytest
from dapr.clients import DaprClient

from .conftest import Apps

STORES = {"apart": "", "by-name": "name", "bare": "none"}


def _components(folder: Path, kind: str, tag: str, db: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, prefix in STORES.items():
        meta = []
        if kind == "sqlite":
            meta.append(("connectionString", str(db)))
        else:
            meta.append(("redisHost", "127.0.0.1:6379"))
        if prefix:
            meta.append(("keyPrefix", prefix))
        lines = "".join(f"\n    - name: {k}\n      value: {v!r}" for k, v in meta)
        (folder / f"{name}.yaml").write_text(
            f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: {name}-{tag}\n"
            f"spec:\n  type: state.{kind}\n  version: v1\n  metadata:{lines}\n"
        )
    return folder


def _shared_keys(apps: Apps, tmp_path: Path, kind: str, mp: pytest.MonkeyPatch) -> str:
    tag = uuid.uuid4().hex[:8]
    resources = _components(tmp_path / "resources", kind, tag, tmp_path / "shared" / "state.db")
    a_id, b_id = f"st-a-{tag}", f"st-b-{tag}"
    sidecars = {}
    for app_id in (a_id, b_id):
        proc = apps.spawn(apps.sidecar_args(app_id, None, resources), f"{app_id}.log")
        sidecars[app_id] = apps.wait_registered(app_id, proc)
    key = f"k-{tag}"

    def client(app_id: str) -> DaprClient:
        mp.setenv("DAPR_HTTP_PORT", str(sidecars[app_id].http_port))
        return DaprClient(sidecars[app_id].grpc_address)

    with client(a_id) as a:
        for name in STORES:
            a.save_state(f"{name}-{tag}", key, f"from a via {name}")
    with client(b_id) as b:
        assert b.get_state(f"apart-{tag}", key).data == b""  # appid prefix: a's key is a's
        assert b.get_state(f"by-name-{tag}", key).data == b"from a via by-name"
        assert b.get_state(f"bare-{tag}", key).data == b"from a via bare"
        b.save_state(f"by-name-{tag}", key, "from b")
    with client(a_id) as a:
        assert a.get_state(f"by-name-{tag}", key).data == b"from b"
        assert a.get_state(f"apart-{tag}", key).data == b"from a via apart"
    return tag


def test_shared_sqlite_file_follows_key_prefix(
    apps: Apps, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _shared_keys(apps, tmp_path, "sqlite", monkeypatch)


def test_shared_redis_follows_key_prefix(
    apps: Apps, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        pytest.skip("Redis is not listening on 127.0.0.1:6379")
    import redis

    tag = _shared_keys(apps, tmp_path, "redis", monkeypatch)
    client = redis.Redis(host="127.0.0.1", port=6379)
    keys = list(client.scan_iter(f"*k-{tag}"))
    assert sorted(k.decode() for k in keys) == sorted(
        [f"st-a-{tag}||k-{tag}", f"by-name-{tag}||k-{tag}", f"k-{tag}"]
    )
    client.delete(*keys)
