"""Every code block of README.md and docs/*.md is run by a test, or says why it cannot be.

The tests that run groups of blocks (the README's walkthrough, the example projects) say which
blocks they run; the blocks that stand alone run here: a module of functions passes
`funchost check`, YAML and JSON parse, the deploy command renders exactly what `k8s/` holds,
and a shell block made only of commands that are safe here (`funchost new/check/list/...`,
`cd`, `ls`, `cat`, `python -m pytest`) runs as a script in a copy of the task agent's folders,
its `# ...` output comments checked.
"""

from __future__ import annotations

import filecmp
import json
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from . import test_doc_projects, test_readme_walkthrough
from ._markdown import REPO, Block, all_blocks, child_env, copy_project, matches, shown_output
from .test_readme_walkthrough import commands

MANIFESTS = "funchost manifests"
SAFE = (
    "funchost new ",
    "funchost check ",
    "funchost list ",
    "funchost --version",
    "funchost --help",
    "cd ",
    "ls",
    "cat ",
    "python -m pytest",
    "pytest",
)


def _standalone(block: Block) -> str | None:
    """The kind of a block that runs on its own here, or None."""
    if block.lang in ("json", "yaml"):
        return block.lang
    if block.lang == "python":
        return "functions"
    if block.lang in ("bash", "sh") and block.text.lstrip().startswith(MANIFESTS):
        return "manifests"
    if block.lang in ("bash", "sh") and all(_safe(c.text) for c in commands(block)):
        return "shell"
    return None


def _safe(command: str) -> bool:
    return all(part.strip().startswith(SAFE) for part in command.split("&&"))


def _run_elsewhere() -> set[str]:
    return test_doc_projects.claimed() | test_readme_walkthrough.claimed()


def test_every_block_runs_in_a_test_or_says_why_not() -> None:
    elsewhere = _run_elsewhere()
    untested = [
        f"{b.id} ({b.lang or 'no language'}: {b.first_line[:50]})"
        for b in all_blocks()
        if not b.skip and b.id not in elsewhere and _standalone(b) is None
    ]
    assert not untested, (
        "code blocks no test runs: make them runnable (tests/docs/) or put "
        "`<!-- skip-test: reason -->` on the line before each:\n" + "\n".join(untested)
    )


STANDALONE = [
    b for b in all_blocks() if _standalone(b) and not b.skip and b.id not in _run_elsewhere()
]


@pytest.mark.parametrize("block", STANDALONE, ids=lambda b: b.id)
def test_standalone_block(block: Block, tmp_path: Path) -> None:
    kind = _standalone(block)
    if kind == "json":
        json.loads(block.text)
    elif kind == "yaml":
        assert list(yaml.safe_load_all(block.text)), block.id
    elif kind == "functions":
        _check_functions(block, tmp_path)
    elif kind == "manifests":
        _render_and_compare(block, tmp_path)
    elif kind == "shell":
        _run_script(block, tmp_path)


def _run_script(block: Block, tmp_path: Path) -> None:
    """Run the block with `bash -e` in a copy of functions/, components/ and bindings/."""
    project = copy_project(tmp_path / "project", "functions", "components", "bindings")
    result = subprocess.run(
        ["bash", "-e", "-c", block.text],
        cwd=project,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{block.id} failed:\n{output}"
    for command in commands(block):
        fragments = shown_output(command.shown)
        assert not fragments or matches(fragments, output), (block.id, command.text, output)


def _check_functions(block: Block, tmp_path: Path) -> None:
    """A Python block of decorated functions is a valid module: `funchost check` says ok."""
    folder = tmp_path / "fns"
    folder.mkdir()
    (folder / "example.py").write_text(block.text)
    result = subprocess.run(
        ["funchost", "check", str(folder), "--no-plugins"],
        cwd=tmp_path,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{block.id}:\n{result.stdout}{result.stderr}"
    assert "ok" in result.stdout, result.stdout


def _render_and_compare(block: Block, tmp_path: Path) -> None:
    """The deploy command, rendered into a temporary folder, gives exactly what is committed."""
    args = shlex.split(block.text.replace("\\\n", " "), comments=True)
    assert args[:2] == ["funchost", "manifests"], args
    out = args.index("--out")
    committed = REPO / args[out + 1]
    args[out + 1] = str(tmp_path / "out")
    result = subprocess.run(
        args,
        cwd=REPO,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rendered = tmp_path / "out"
    ours = sorted(p.relative_to(rendered).as_posix() for p in rendered.rglob("*") if p.is_file())
    theirs = sorted(
        p.relative_to(committed).as_posix() for p in committed.rglob("*") if p.is_file()
    )
    assert ours == theirs, f"{block.id}: files differ from {committed.relative_to(REPO)}"
    differ = [p for p in ours if not filecmp.cmp(rendered / p, committed / p, shallow=False)]
    assert not differ, f"{block.id} renders {differ} differently from what k8s/ commits"
