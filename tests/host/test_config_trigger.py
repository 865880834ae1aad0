"""@config_change: the decorator, its wiring end to end, `funchost list`, manifests, metrics."""

from __future__ import annotations

import sys
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from funchost import config_change, discover
from funchost.cli import app as cli
from funchost.errors import DefinitionError
from funchost.manifests import ManifestOptions, render
from funchost.testing import LocalRuntime
from funchost.triggers import ConfigDef, definitions_of
from tests.host.conftest import SAMPLES

FOLDER = SAMPLES / "config_lock"


def test_definition_and_validation() -> None:
    @config_change("configstore", keys=["a", "b", "a"])
    async def watch(items: dict) -> None: ...

    (d,) = definitions_of(watch)
    assert isinstance(d, ConfigDef) and d.kind == "config"
    assert (d.store, d.keys, d.name) == ("configstore", ("a", "b"), "watch")
    assert d.trigger == "config configstore: a, b"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((), {"keys": "flag"}, "keys must be a list of keys, got the string 'flag'"),
        ((), {"keys": [""]}, "configuration key '' is invalid"),
        ((), {"keys": ["a/b"]}, "configuration key 'a/b' is invalid"),
        (("bad store",), {}, "configuration store name 'bad store' is invalid"),
    ],
)
def test_validation_names_the_fix(args: tuple, kwargs: dict, message: str) -> None:
    with pytest.raises(DefinitionError, match=message):

        @config_change(*(args or ("configstore",)), **kwargs)
        def f(items: dict) -> None: ...


def test_bare_use_says_what_to_write() -> None:
    with pytest.raises(DefinitionError, match=r"@config_change\('configstore'"):

        @config_change  # type: ignore[arg-type]
        def f(items: dict) -> None: ...


def test_listed_and_rendered() -> None:
    result = CliRunner().invoke(cli, ["list", str(FOLDER), "--no-plugins", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in __import__("json").loads(result.stdout)}
    assert rows["on_feature"]["kind"] == "config"
    assert rows["on_anything"]["trigger"] == "config configstore: * (every key)"

    files = render(discover(FOLDER, plugins=False), ManifestOptions(app_id="cfg"))
    (store,) = list(yaml.safe_load_all(files["config-stores.yaml"]))
    assert store["metadata"]["name"] == "configstore"
    assert store["spec"]["type"] == "configuration.redis"
    assert "config-stores.yaml" in yaml.safe_load(files["kustomization.yaml"])["resources"]
    resiliency = yaml.safe_load(files["resiliency.yaml"])
    assert resiliency["spec"]["targets"]["components"]["configstore"] == {
        "inbound": {"retry": "eventRetry"}
    }


def _set(rt: LocalRuntime, items: dict[str, Any]) -> None:
    resp = httpx.put(f"{rt.http_url}/funchost/v1/configuration/configstore", json=items)
    resp.raise_for_status()


@pytest.mark.e2e
async def test_functions_run_once_per_change_of_a_watched_key() -> None:
    async with LocalRuntime(FOLDER) as rt:
        changes = sys.modules["watchers"].CHANGES
        changes.clear()
        _set(rt, {"feature_x": {"value": "on", "version": "4"}})
        await rt.idle()
        item = {"feature_x": {"value": "on", "version": "4"}}
        assert sorted(changes, key=lambda c: c[0]) == [
            ("on_anything", item),
            ("on_feature", item),
            ("on_feature_or_limit", item),
        ]
        changes.clear()
        _set(rt, {"limit": "10", "other": "x"})
        await rt.idle()
        assert sorted(changes, key=lambda c: c[0]) == [
            ("on_anything", {"limit": {"value": "10", "version": "1"}}),
            ("on_anything", {"other": {"value": "x", "version": "1"}}),
            ("on_feature_or_limit", {"limit": {"value": "10", "version": "1"}}),
        ]
        changes.clear()
        _set(rt, {"feature_x": None})  # deleted: an empty item
        await rt.idle()
        assert ("on_feature", {"feature_x": {}}) in changes

        _set(rt, {"broken": "1"})  # the function fails: observed as an error, then dropped
        await rt.idle()
        recent = httpx.get(f"{rt.app_url}/_funchost/recent").json()["invocations"]
        failed = [i for i in recent if i["function"] == "fails"]
        assert failed and failed[0]["trigger"] == "config" and failed[0]["outcome"] == "retry"
        ok = [i for i in recent if i["function"] == "on_feature"]
        assert ok and ok[0]["outcome"] == "success"
