"""The Python examples of docs/testing.md and the README run as a user would run them.

Blocks headed `# functions/NAME.py` or `# bindings/NAME.yaml` (or `components/`) are written
to those files of a fresh project, with docs/testing.md's ini block as its `pytest.ini`; each
block that defines tests becomes a test file, with the page's Setup block and
`from datetime import timedelta` on top. Tests of a chapter that writes no function file are
about the task agent, so they run in a copy of `functions/`, `components/` and `bindings/`.
Then `pytest` runs in the project and every test of the blocks must pass (none skipped).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ._markdown import Block, blocks, copy_project, run_pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GUIDE = "docs/testing.md"
_FILE_HEADER = re.compile(r"#\s*((?:functions|bindings|components)/[\w./-]+\.(?:py|ya?ml))")
_TEST = re.compile(r"^(?:async )?def (test_\w+)", re.M)


def file_target(block: Block) -> str | None:
    """`functions/x.py` for a block whose first line names the file it is."""
    match = _FILE_HEADER.match(block.first_line)
    return match.group(1) if match else None


def defined_tests(block: Block) -> list[str]:
    return _TEST.findall(block.text) if block.lang == "python" else []


def setup_blocks() -> tuple[Block, Block]:
    """docs/testing.md's Setup chapter: the marker line (python) and the pytest.ini (ini)."""
    setup = [b for b in blocks(GUIDE) if b.chapter == "Setup"]
    (marker,) = [b for b in setup if b.lang == "python"]
    (ini,) = [b for b in setup if b.lang == "ini"]
    return marker, ini


def _chapters_with_files(file: str) -> set[str]:
    return {b.chapter for b in blocks(file) if file_target(b)}


def projects() -> dict[str, list[Block]]:
    """`docs` (the page's own functions) and `agent` (the task agent): their blocks."""
    found: dict[str, list[Block]] = {"docs": [], "agent": []}
    for file in ("README.md", GUIDE):
        with_files = _chapters_with_files(file)
        for block in blocks(file):
            if file_target(block) or (defined_tests(block) and block.chapter in with_files):
                found["docs"].append(block)
            elif defined_tests(block):
                found["agent"].append(block)
    return found


def claimed() -> set[str]:
    """Ids of the blocks these tests run."""
    return {b.id for group in projects().values() for b in group} | {b.id for b in setup_blocks()}


def _write(project: Path, group: list[Block]) -> list[str]:
    """Write the blocks of `group` into `project`; return the test names they define."""
    marker, ini = setup_blocks()
    (project / "pytest.ini").write_text(ini.text)
    for folder in ("functions", "components", "bindings", "tests"):
        (project / folder).mkdir(exist_ok=True)
    prelude = f"from datetime import timedelta\n\n{marker.text}\n"
    names: list[str] = []
    for block in group:
        target = file_target(block)
        if target:
            (project / target).write_text(block.text)
        else:
            stem = re.sub(r"\W+", "_", f"{block.file}_{block.line}".lower()).strip("_")
            (project / "tests" / f"test_{stem}.py").write_text(prelude + block.text)
        names += defined_tests(block)
    return names


@pytest.mark.parametrize("name", ["docs", "agent"])
def test_examples_pass_in_a_project(name: str, tmp_path: Path) -> None:
    group = projects()[name]
    project = tmp_path / "project"
    if name == "agent":
        copy_project(project, "functions", "components", "bindings")
    else:
        project.mkdir()
    expected = _write(project, group)
    assert expected, f"no test in the {name} blocks"
    result = run_pytest(project, "-rs", "--tb=short")
    output = result.stdout + result.stderr
    where = ", ".join(b.id for b in group)
    assert result.returncode == 0, f"the examples of {where} failed:\n{output}"
    assert re.search(rf"\b{len(expected)} passed\b", output), (expected, output)
