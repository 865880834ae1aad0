"""Fixtures for the dashboard tests: the task agent and the orders app under `funchost run`,
and a headless Chromium page (each skipped with a reason when it cannot run here)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._support import REPO, RunningApp, copy_project, launch_chromium, require_browser

ORDERS_APP = Path(__file__).parent / "orders_app"
TOKEN = "dashboard-test-token"


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The task agent (`functions/`, its components and bindings) under `funchost run`."""
    project = copy_project(
        tmp_path_factory.mktemp("agent"),
        REPO / "functions",
        REPO / "components",
        REPO / "bindings",
    )
    app = RunningApp(project)
    try:
        yield app.wait_ready()
    finally:
        app.stop()


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The orders app under `funchost run` with DAPR_API_TOKEN and APP_API_TOKEN set."""
    project = copy_project(
        tmp_path_factory.mktemp("orders"),
        ORDERS_APP / "functions",
        ORDERS_APP / "components",
    )
    app = RunningApp(project, env={"DAPR_API_TOKEN": TOKEN, "APP_API_TOKEN": TOKEN + "-app"})
    try:
        yield app.wait_ready()
    finally:
        app.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's) through Playwright's sync API."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page that accepts every confirm dialog."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        yield page
    finally:
        context.close()
