"""Discovery: folders, file:line errors, duplicates, entry-point plugins, documented hooks."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path

import pytest

from funchost import discover, hookspecs
from funchost.errors import DiscoveryError, RegistryError
from funchost.plugins import get_plugin_manager


def write(folder: Path, name: str, code: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(code))
    return path


def test_plain_folder_and_package_subfolders(tmp_path: Path) -> None:
    write(
        tmp_path,
        "fh_alpha.py",
        """
        from funchost import invoke
        from fh_helpers import greet

        @invoke("hello")
        def hello():
            return greet()
        """,
    )
    write(tmp_path, "fh_helpers.py", "def greet():\n    return 'hi'\n")
    write(tmp_path, "fh_pkg/__init__.py", "")
    write(
        tmp_path,
        "fh_pkg/jobs.py",
        """
        from funchost import cron

        @cron("@hourly")
        def hourly():
            pass
        """,
    )
    write(tmp_path, "test_ignored.py", "raise RuntimeError('tests are not imported')\n")
    registry = discover(tmp_path, plugins=False)
    assert sorted(d.name for d in registry) == ["hello", "hourly"]


def test_package_folder(tmp_path: Path) -> None:
    pkg = tmp_path / "fh_appkg"
    write(pkg, "__init__.py", "")
    write(
        pkg,
        "handlers.py",
        """
        from funchost import binding
        from .util import VALUE

        @binding("fh-queue")
        def on_queue(data):
            return VALUE
        """,
    )
    write(pkg, "util.py", "VALUE = 1\n")
    registry = discover(pkg, plugins=False)
    assert [d.name for d in registry] == ["fh-queue"]
    assert registry.bindings[0].module == "fh_appkg.handlers"


@pytest.mark.parametrize(
    ("code", "line", "message"),
    [
        ("x = 1\ndef broken(:\n    pass\n", 2, "SyntaxError"),
        ("import os\nimport fh_does_not_exist\n", 2, "No module named 'fh_does_not_exist'"),
        ("\n\nraise ValueError('bad config')\n", 3, "ValueError: bad config"),
        (
            "from funchost import cron\n\n@cron('61 * * * *')\ndef tick():\n    pass\n",
            3,
            "minute field '61' is invalid",
        ),
    ],
)
def test_import_errors_name_file_and_line(
    tmp_path: Path, code: str, line: int, message: str
) -> None:
    bad = write(tmp_path, "fh_bad.py", code)
    with pytest.raises(DiscoveryError) as info:
        discover(tmp_path, plugins=False)
    err = info.value
    assert err.file is not None and Path(err.file).resolve() == bad.resolve()
    # decorator errors point at the decorated function (def line, or the decorator line)
    assert err.line in (line, line + 1)
    assert message in str(err)
    assert str(err).startswith(f"{err.file}:{err.line}: ")


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    for name in ("fh_one.py", "fh_two.py"):
        write(
            tmp_path,
            name,
            """
            from funchost import topic

            @topic("pubsub", "orders", name="on_order")
            def handler(order):
                pass
            """,
        )
    with pytest.raises(RegistryError) as info:
        discover(tmp_path, plugins=False)
    text = str(info.value)
    assert "duplicate topic name 'on_order'" in text
    assert "fh_one.py" in text and "fh_two.py" in text


def test_two_defaults_on_one_topic_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        "fh_dflt.py",
        """
        from funchost import topic

        @topic("pubsub", "orders")
        def a(order):
            pass

        @topic("pubsub", "orders")
        def b(order):
            pass
        """,
    )
    with pytest.raises(RegistryError, match="both take every event of pubsub/orders"):
        discover(tmp_path, plugins=False)


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DiscoveryError, match="does not exist"):
        discover(tmp_path / "nope", plugins=False)


def _install_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, code: str) -> None:
    site = tmp_path / "site"
    write(site, f"{name}/__init__.py", code)
    dist = site / f"{name}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[funchost]\n{name} = {name}\n")
    monkeypatch.syspath_prepend(str(site))


PLUGIN = """
from funchost import invoke
from funchost.plugins import hookimpl


@invoke("from-plugin")
def from_plugin():
    return "plugin"


def contributed():
    return "contributed"


@hookimpl
def funchost_add_functions(settings):
    return [invoke("contributed")(contributed)]


@hookimpl
def funchost_configure_app(app, registry, settings):
    app.state.configured_by_plugin = True
"""


def test_entry_point_plugins_and_filter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_plugin(tmp_path, monkeypatch, "fh_plugin_one", PLUGIN)
    monkeypatch.delenv("FUNCHOST_PLUGINS", raising=False)
    registry = discover(None)
    assert {d.name for d in registry} >= {"from_plugin", "contributed"}

    from funchost import Settings, create_app

    app = create_app(registry, Settings(workflows=False))
    assert app.state.configured_by_plugin is True

    monkeypatch.setenv("FUNCHOST_PLUGINS", "none")
    assert len(discover(None)) == 0
    monkeypatch.setenv("FUNCHOST_PLUGINS", "fh_unknown")
    with pytest.raises(DiscoveryError, match="unknown plugin"):
        discover(None)


def test_broken_plugin_names_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_plugin(tmp_path, monkeypatch, "fh_plugin_broken", "\n\nraise RuntimeError('boom')\n")
    monkeypatch.setenv("FUNCHOST_PLUGINS", "fh_plugin_broken")
    with pytest.raises(DiscoveryError) as info:
        discover(None)
    assert info.value.line == 3
    assert "fh_plugin_broken" in str(info.value) and "RuntimeError: boom" in str(info.value)


def test_every_hook_is_documented() -> None:
    pm = get_plugin_manager(entry_points=False)
    specs = [name for name in dir(hookspecs) if name.startswith("funchost_")]
    assert set(specs) == set(pm.hook.__dict__) & set(specs)
    assert len(specs) >= 5
    for name in specs:
        fn = getattr(hookspecs, name)
        doc = inspect.getdoc(fn) or ""
        assert len(doc.splitlines()) >= 3, f"hook {name} is undocumented"
        for param in inspect.signature(fn).parameters:
            assert f"``{param}``" in doc, f"hook {name} does not document '{param}'"
        assert "Returns" in doc, f"hook {name} does not document its return value"


def test_builtin_wiring_goes_through_the_plugin_manager() -> None:
    pm = get_plugin_manager(entry_points=False)
    names = {pm.get_name(p) for p in pm.get_plugins()}
    assert {
        f"funchost.wiring.{k}"
        for k in ("pubsub", "bindings", "jobs", "invoke", "actors", "workflows")
    } <= names


def test_same_module_name_in_two_folders(tmp_path: Path) -> None:
    for folder, route in (("a", "first"), ("b", "second")):
        write(
            tmp_path / folder,
            "fh_same.py",
            f"""
            from funchost import invoke

            @invoke("{route}")
            def handler():
                pass
            """,
        )
    assert [d.method for d in discover(tmp_path / "a", plugins=False)] == ["first"]
    assert [d.method for d in discover(tmp_path / "b", plugins=False)] == ["second"]
    assert [d.method for d in discover(tmp_path / "a", plugins=False)] == ["first"]
