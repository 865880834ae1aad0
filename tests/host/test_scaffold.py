"""`funchost new`: a project that passes `funchost check` and whose tests pass straight away."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from funchost.cli import app
from funchost.scaffold import TEMPLATES, ScaffoldError, new_project

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    # the generated project imports funchost from this checkout (as an installed funchost would)
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{path}" if path else str(ROOT)}


def _sh(command: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_new_project_checks_and_its_tests_pass(tmp_path: Path, template: str) -> None:
    """What a new user types: `funchost new demo && cd demo && python -m pytest`."""
    done = _sh(
        f"{sys.executable} -m funchost new demo --template {template} && cd demo && "
        f"{sys.executable} -m funchost check functions/ && "
        f"{sys.executable} -m pytest -q -p no:cacheprovider",
        tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok: functions:" in done.stdout
    assert " passed" in done.stdout and "failed" not in done.stdout


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_new_project_has_every_part_and_is_lint_clean(tmp_path: Path, template: str) -> None:
    written = new_project(tmp_path / "my-app", template)
    project = tmp_path / "my-app"
    for part in ("functions", "components", "tests"):
        assert (project / part).is_dir(), part
    for name in ("dapr.yaml", "Dockerfile", "README.md", "pyproject.toml", ".gitignore"):
        assert (project / name).is_file(), name
    assert set(written) == {p for p in project.rglob("*") if p.is_file()}
    text = "".join(p.read_text() for p in written)
    assert "__NAME__" not in text and "__VERSION__" not in text and "-tpl" not in text
    run_file = yaml.safe_load((project / "dapr.yaml").read_text())
    assert run_file["version"] == 1 and run_file["common"]["resourcesPath"] == "./components"
    (entry,) = run_file["apps"]
    assert entry["appID"] == "my-app" and entry["appPort"] == 8000
    assert entry["command"] == ["funchost", "serve", "functions/"]
    if shutil.which("hadolint") is not None:
        done = subprocess.run(
            ["hadolint", "Dockerfile"], cwd=project, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stdout + done.stderr
    if shutil.which("ruff") is None:
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    lint = subprocess.run(
        "ruff check . && ruff format --check .",
        shell=True,
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_new_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["new", str(tmp_path / "demo")])
    assert result.exit_code == 1
    assert "already exists and is not empty" in result.output
    assert "choose another NAME" in result.output
    assert [p.name for p in (tmp_path / "demo").iterdir()] == ["notes.txt"]


def test_new_accepts_an_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    result = CliRunner().invoke(app, ["new", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "cd " in result.output and "python -m pytest" in result.output
    assert (tmp_path / "demo" / "functions" / "hello.py").is_file()


@pytest.mark.parametrize(
    ("name", "template", "message"),
    [
        ("Bad_Name!", "minimal", "cannot be a Dapr app id"),
        ("-dash", "minimal", "cannot be a Dapr app id"),
        ("demo", "fancy", "unknown template 'fancy': use one of agent, minimal"),
    ],
)
def test_new_rejects_bad_names_and_templates(
    tmp_path: Path, name: str, template: str, message: str
) -> None:
    with pytest.raises(ScaffoldError, match=message):
        new_project(tmp_path / name, template)
    assert not (tmp_path / name).exists()
