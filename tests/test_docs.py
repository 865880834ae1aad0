"""The documentation site (mkdocs.yml, docs/) builds with no warning: `mkdocs build --strict`."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NEEDS = {"mkdocs": "mkdocs", "material": "mkdocs-material", "mkdocstrings": "mkdocstrings"}


def test_the_docs_site_builds_strictly(tmp_path: Path) -> None:
    missing = [dist for module, dist in NEEDS.items() if importlib.util.find_spec(module) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed: pip install -e '.[docs]'")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    warnings = [line for line in output.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not warnings, "\n".join(warnings)
    for page in ("index.html", "testing/index.html", "reference/context/index.html"):
        assert (tmp_path / page).is_file(), page
    # the API reference is rendered from the docstrings, not left as `::: name`
    context = (tmp_path / "reference" / "context" / "index.html").read_text()
    assert "get_state" in context and ":::" not in context
