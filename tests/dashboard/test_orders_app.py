"""The orders app's dashboard (run with DAPR_API_TOKEN / APP_API_TOKEN) in Chromium: login,
re-drive a dead letter, send to an input binding and see the outbox; and `funchost deadletters
list|redrive|discard`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from dapr.clients import DaprClient

from ._support import RunningApp, wait_for
from .conftest import TOKEN

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def client(orders: RunningApp, monkeypatch: pytest.MonkeyPatch) -> Iterator[DaprClient]:
    """The SDK's client on the orders app's sidecar (the token comes from the environment)."""
    monkeypatch.setenv("DAPR_API_TOKEN", TOKEN)
    monkeypatch.setenv("DAPR_HTTP_PORT", str(orders.http_port))
    monkeypatch.setenv("DAPR_GRPC_PORT", str(orders.grpc_port))
    with DaprClient(address=f"127.0.0.1:{orders.grpc_port}") as dapr:
        yield dapr


def _dead_letters(orders: RunningApp) -> list[dict[str, Any]]:
    resp = httpx.get(
        f"{orders.sidecar_url}/funchost/v1/deadletters", headers=orders.headers, timeout=10
    )
    resp.raise_for_status()
    return list(resp.json()["deadLetters"])


def _publish_dead_letter(orders: RunningApp, client: DaprClient) -> tuple[str, int]:
    """Publish an order while the shop is closed; wait until it is dead-lettered."""
    order_id = uuid.uuid4().hex[:8]
    client.save_state("statestore", "open", "")
    client.publish_event(
        "pubsub", "orders", json.dumps({"id": order_id}), data_content_type="application/json"
    )

    def dead() -> int | None:
        for row in _dead_letters(orders):
            if row["event"]["data"] == {"id": order_id}:
                return int(row["id"])
        return None

    return order_id, wait_for(dead, f"order {order_id} to be dead-lettered")


def _delivered(client: DaprClient, order_id: str) -> bool:
    return bool(client.get_state("statestore", f"delivered:{order_id}").data)


def test_nothing_without_the_token(orders: RunningApp) -> None:
    resp = httpx.get(f"{orders.dashboard_url}/api/topics", timeout=10)
    assert resp.status_code == 401
    assert "token" in resp.json()["error"]
    page = httpx.get(orders.dashboard_url + "/", timeout=10)
    assert page.status_code == 303 and page.headers["location"] == "/login"
    wrong = httpx.post(f"{orders.dashboard_url}/login", data={"token": "nope"}, timeout=10)
    assert wrong.status_code == 401


def test_redrive_a_dead_letter_from_the_topics_page(
    page: Any, orders: RunningApp, client: DaprClient
) -> None:
    order_id, dead_id = _publish_dead_letter(orders, client)
    page.goto(orders.dashboard_url + "/")
    page.fill("input[name=token]", TOKEN)  # the login form, once
    page.click("button[type=submit]")
    page.locator("[data-testid=functions]").wait_for()
    page.goto(orders.dashboard_url + "/#/topics")
    row = page.locator(f"tr[data-dead-letter='{dead_id}']")
    row.wait_for()
    assert "dropped by the app" in row.inner_text()
    assert order_id in row.inner_text()
    assert page.locator("tr[data-topic=orders]").inner_text().count("orders-dlq") == 1

    client.save_state("statestore", "open", "yes")  # the shop opens: re-drive the order
    row.locator("button[data-redrive]").click()
    page.locator("[data-testid=flash]").filter(has_text="published again").wait_for()
    wait_for(lambda: _delivered(client, order_id), f"order {order_id} to be delivered")
    assert all(r["id"] != dead_id for r in _dead_letters(orders))
    page.locator(f"tr[data-dead-letter='{dead_id}']").wait_for(state="detached")


def _cli(*args: str, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DAPR_API_TOKEN"}
    return subprocess.run(
        [sys.executable, "-c", "from funchost.cli import main; main()", "deadletters", *args],
        env={**env, "DAPR_API_TOKEN": token} if token else env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_deadletters_cli_lists_redrives_and_discards(
    orders: RunningApp, client: DaprClient
) -> None:
    sidecar = ["--sidecar", orders.sidecar_url]
    kept_id, kept = _publish_dead_letter(orders, client)
    gone_id, gone = _publish_dead_letter(orders, client)
    listed = _cli("list", "--json", "--topic", "orders", *sidecar)
    assert listed.returncode == 0, listed.stderr
    ids = {row["id"]: row for row in json.loads(listed.stdout)}
    assert ids[kept]["reason"] == "dropped by the app"
    assert ids[kept]["deadLetterTopic"] == "orders-dlq"

    discarded = _cli("discard", str(gone), *sidecar)
    assert discarded.returncode == 0, discarded.stderr
    again = _cli("discard", str(gone), *sidecar)
    assert again.returncode == 1 and "re-driven or discarded already" in again.stderr

    client.save_state("statestore", "open", "yes")
    redriven = _cli("redrive", str(kept), *sidecar)
    assert redriven.returncode == 0, redriven.stderr
    assert "published again to pubsub/orders" in redriven.stdout
    wait_for(lambda: _delivered(client, kept_id), f"order {kept_id} to be delivered")
    assert not _delivered(client, gone_id)
    assert {kept, gone}.isdisjoint(r["id"] for r in _dead_letters(orders))

    no_token = _cli("list", *sidecar, token=None)
    assert no_token.returncode == 1 and "dapr-api-token" in no_token.stderr


def test_send_to_an_input_binding_and_see_the_outbox(page: Any, orders: RunningApp) -> None:
    page.goto(f"{orders.dashboard_url}/?token={TOKEN}")  # the token in the address, once
    page.locator("[data-testid=functions]").wait_for()
    page.goto(orders.dashboard_url + "/#/bindings")
    page.select_option("#send-binding select[name=name]", "shipments")
    page.fill("#send-binding input[name=data]", '{"id": "ship-7"}')
    page.click("#send-binding button[type=submit]")
    page.locator("[data-testid=flash]").filter(has_text="the app answered 200").wait_for()
    page.goto(orders.dashboard_url + "/#/overview")
    page.goto(orders.dashboard_url + "/#/bindings")
    outbox = page.locator("[data-testid=outbox]")
    outbox.wait_for()
    assert '"confirmed": "ship-7"' in outbox.inner_text()
    assert "shipments" in outbox.inner_text() and "create" in outbox.inner_text()


def test_a_child_workflow_is_nested_and_a_retry_marked(
    page: Any, orders: RunningApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dapr.ext.workflow import DaprWorkflowClient

    monkeypatch.setenv("DAPR_API_TOKEN", TOKEN)
    workflows = DaprWorkflowClient(host="127.0.0.1", port=str(orders.grpc_port))
    instance = workflows.schedule_new_workflow("fulfil", input="o-1", instance_id="fulfil-o-1")
    state = workflows.wait_for_workflow_completion(instance, timeout_in_seconds=60)
    assert state is not None and state.runtime_status.name == "COMPLETED"

    page.goto(f"{orders.dashboard_url}/?token={TOKEN}")
    page.goto(f"{orders.dashboard_url}/#/instance/{instance}")
    page.locator("[data-testid=status]").filter(has_text="COMPLETED").wait_for()
    parent = page.locator(".tl-row[data-kind=child][data-name=ship]")
    assert parent.get_attribute("data-status") == "completed"
    nested = page.locator(".tl-child")
    assert nested.locator("a").inner_text() == "fulfil-o-1-ship"
    packs = nested.locator(".tl-row[data-kind=activity][data-name=pack]")
    assert packs.evaluate_all("rows => rows.map(r => r.dataset.status)") == ["failed", "completed"]
    assert "(retry 1)" in packs.nth(1).inner_text()
    assert nested.locator(".tl-row[data-kind=timer][data-name='retry delay']").count() == 1
