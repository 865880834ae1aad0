"""The sidecar's `/metrics` and metadata enrichment, read from its store (real sidecar)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from dapr.clients import DaprClient
from prometheus_client.parser import text_string_to_metric_families

from funchost.sidecar.server import SidecarThread

pytestmark = pytest.mark.e2e


@pytest.fixture
def sidecar(start_sidecar: Callable[..., SidecarThread]) -> SidecarThread:
    return start_sidecar()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_queue_depths_and_metadata(sidecar: SidecarThread) -> None:
    sc = sidecar.sidecar
    base = sc.http_url
    empty = samples(httpx.get(f"{base}/metrics").text)
    assert empty[("funchost_sidecar_due_reminders", ())] == 0
    assert not [k for k in empty if k[0] == "funchost_sidecar_pending_deliveries"]

    # No app yet: published messages wait in the outbox, a started workflow waits for a worker.
    with DaprClient(address=sc.grpc_address) as client:
        for i in range(3):
            client.publish_event("pubsub", "orders", data=f'{{"n": {i}}}')
    from dapr.ext.workflow import DaprWorkflowClient

    wf = DaprWorkflowClient(host="127.0.0.1", port=str(sc.config.grpc_port))
    wf.schedule_new_workflow("task_processing", input={"task": 1}, instance_id="wf-1")

    got = samples(httpx.get(f"{base}/metrics").text)
    pending = (("pubsub", "pubsub"), ("topic", "orders"))
    assert got[("funchost_sidecar_pending_deliveries", pending)] == 3
    statuses = {k[1][0][1]: v for k, v in got.items() if k[0] == "funchost_sidecar_workflows"}
    assert sum(statuses.values()) == 1 and set(statuses) <= {"PENDING", "RUNNING"}
    assert got[("funchost_sidecar_pending_work_items", (("kind", "orchestration"),))] >= 1

    meta = httpx.get(f"{base}/v1.0/metadata").json()
    info = meta["funchost"]
    assert info["pendingDeliveries"] == [{"pubsub": "pubsub", "topic": "orders", "count": 3}]
    assert [w["instanceId"] for w in info["inFlightWorkflows"]] == ["wf-1"]
    assert info["inFlightWorkflows"][0]["name"] == "task_processing"
    assert meta["id"] == "metrics-test"
