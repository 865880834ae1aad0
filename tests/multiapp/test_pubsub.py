"""Pub/sub across apps: a topic with subscribers in three apps, each app id its own consumer
group (every app gets each message once), with the embedded broker (the publisher's sidecar
fans out through the name registry) and with `pubsub.redis`; a subscriber's sidecar and app
killed -9 while messages are published get them all after the restart."""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from dapr.clients import DaprClient

from funchost.sidecar import free_port
from funchost.sidecar.resolution import AppAddress

from .conftest import HERE, Apps

SUB_APP = HERE / "sub_app.py"
N = 20


def _resources(root: Path, kind: str, prefix: str) -> Path:
    folder = root / f"resources-{kind}"
    folder.mkdir(exist_ok=True)
    meta = ""
    if kind == "redis":
        meta = "\n    - name: redisHost\n      value: 127.0.0.1:6379"
    (folder / "pubsub.yaml").write_text(
        f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.{kind}
  version: v1
  metadata:{meta or " []"}
"""
    )
    return folder


class Subscriber:
    """A sub_app.py process and its sidecar; `kill9()` then `start()` again."""

    def __init__(self, apps: Apps, app_id: str, resources: Path, topic: str, record: Path):
        self.apps, self.app_id, self.resources = apps, app_id, resources
        self.topic, self.record = topic, record
        self.start()

    def start(self) -> None:
        port = free_port()
        self.app = self.apps.spawn(
            [sys.executable, str(SUB_APP)],
            f"{self.app_id}-app.log",
            APP_ID=self.app_id,
            APP_PORT=str(port),
            SUB_TOPIC=self.topic,
            SUB_RECORD=str(self.record),
        )
        args = self.apps.sidecar_args(self.app_id, port, self.resources)
        self.sidecar = self.apps.spawn(args, f"{self.app_id}-sidecar.log")
        self.address = self.apps.wait_registered(self.app_id, self.sidecar)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the sidecar knows the app's subscriptions
            meta = httpx.get(f"{self.address.http_url}/v1.0/metadata").json()
            if any(s.get("topic") == self.topic for s in meta.get("subscriptions", [])):
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.app_id} never subscribed: {self.apps.log(self.app_id)}")

    def kill9(self) -> None:
        for proc in (self.sidecar, self.app):
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)


def _publish(pub: AppAddress, topic: str, numbers: range) -> None:
    with DaprClient(pub.grpc_address) as client:
        for n in numbers:
            client.publish_event(
                "pubsub", topic, json.dumps({"n": n}), data_content_type="application/json"
            )


def _counts(record: Path) -> dict[str, Counter[int]]:
    out: dict[str, Counter[int]] = {}
    for line in record.read_text().splitlines() if record.exists() else []:
        app, n = line.split()
        out.setdefault(app, Counter())[int(n)] += 1
    return out


def _wait_all(record: Path, apps: list[str], want: set[int], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = _counts(record)
        if all(set(got.get(a, ())) >= want for a in apps):
            time.sleep(0.5)  # anything more (a duplicate) would show up now
            return _counts(record)
        time.sleep(0.1)
    raise AssertionError(f"not every app got {sorted(want)}: {_counts(record)}")


def _three_apps_get_each_message_once(
    apps: Apps, tmp_path: Path, kind: str, monkeypatch: pytest.MonkeyPatch, tag: str
) -> None:
    topic = f"orders-{tag}"
    resources = _resources(tmp_path, kind, tag)
    record = tmp_path / "record.txt"
    names = [f"sub{i}-{tag}" for i in range(3)]
    subs = [Subscriber(apps, name, resources, topic, record) for name in names]
    publisher = apps.spawn(apps.sidecar_args(f"pub-{tag}", None, resources), "pub-sidecar.log")
    pub = apps.wait_registered(f"pub-{tag}", publisher)
    monkeypatch.setenv("DAPR_HTTP_PORT", str(pub.http_port))  # the SDK's health check
    monkeypatch.setenv("DAPR_GRPC_PORT", str(pub.grpc_port))
    _publish(pub, topic, range(N))
    got = _wait_all(record, names, set(range(N)))
    assert got == {name: Counter(range(N)) for name in names}  # exactly once per app
    # one subscriber's processes die (kill -9) while messages are published, then come back
    subs[2].kill9()
    _publish(pub, topic, range(N, 2 * N))
    subs[2].start()
    got = _wait_all(record, names, set(range(2 * N)))
    for name in names[:2]:
        assert got[name] == Counter(range(2 * N))
    assert set(got[names[2]]) == set(range(2 * N))  # at least once


def test_embedded_topic_shared_by_three_apps(
    apps: Apps, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _three_apps_get_each_message_once(
        apps, tmp_path, "in-memory", monkeypatch, uuid.uuid4().hex[:8]
    )


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


def test_redis_topic_shared_by_three_apps(
    apps: Apps, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not _redis_up():
        pytest.skip("Redis is not listening on 127.0.0.1:6379")
    import redis

    tag = uuid.uuid4().hex[:8]
    try:
        _three_apps_get_each_message_once(apps, tmp_path, "redis", monkeypatch, tag)
    finally:
        apps.stop_all()
        redis.Redis(host="127.0.0.1", port=6379).delete(f"orders-{tag}")  # our stream only


def test_embedded_fanout_survives_a_publisher_kill9(
    apps: Apps, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copies owed to subscribers that are down wait in the publisher's database: a kill -9 of
    the publisher, then both back, and every subscriber gets every message."""
    tag = uuid.uuid4().hex[:8]
    topic = f"orders-{tag}"
    resources = _resources(tmp_path, "in-memory", tag)
    record = tmp_path / "record.txt"
    names = [f"sub{i}-{tag}" for i in range(2)]
    subs = [Subscriber(apps, name, resources, topic, record) for name in names]
    for sub in subs:
        sub.kill9()  # subscribed once (recorded), now down
    args = apps.sidecar_args(f"pub-{tag}", None, resources)
    publisher = apps.spawn(args, "pub-sidecar.log")
    pub = apps.wait_registered(f"pub-{tag}", publisher)
    monkeypatch.setenv("DAPR_HTTP_PORT", str(pub.http_port))
    _publish(pub, topic, range(N))
    publisher.kill()  # SIGKILL: the copies are only in its database
    publisher.wait(10)
    for sub in subs:
        sub.start()
    publisher = apps.spawn(args, "pub-sidecar-2.log")
    apps.wait_registered(f"pub-{tag}", publisher)
    got = _wait_all(record, names, set(range(N)))
    assert got == {name: Counter(range(N)) for name in names}
