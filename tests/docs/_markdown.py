"""The code blocks of README.md and docs/*.md, and what the docs tests need to run them.

A block is preceded, optionally, by an HTML comment that says how it is tested:
`<!-- skip-test: reason -->` for the few that cannot run here (a cluster, PyPI, daprd).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt

REPO = Path(__file__).resolve().parents[2]
DOC_FILES = ("README.md", *sorted(p.relative_to(REPO).as_posix() for p in REPO.glob("docs/*.md")))
_SKIP = re.compile(r"<!--\s*skip-test:\s*(.+?)\s*-->", re.S)


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, its language, its text and its section."""

    file: str
    line: int
    lang: str
    text: str
    section: str  # the nearest heading above it (any level)
    chapter: str  # the nearest level-2 heading above it
    skip: str | None  # the reason of a `<!-- skip-test: ... -->` right before it

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def first_line(self) -> str:
        return self.text.strip().splitlines()[0] if self.text.strip() else ""


@functools.cache
def blocks(file: str) -> tuple[Block, ...]:
    """Every fenced code block of `file` (relative to the repository), in order."""
    tokens = MarkdownIt().parse((REPO / file).read_text(encoding="utf-8"))
    found: list[Block] = []
    section = chapter = ""
    pending_skip: str | None = None
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            section = tokens[i + 1].content
            if tok.tag == "h2":
                chapter = section
            pending_skip = None
        elif tok.type == "html_block":
            match = _SKIP.search(tok.content)
            pending_skip = match.group(1) if match else None
        elif tok.type == "fence":
            assert tok.map is not None
            lang = tok.info.split()[0] if tok.info.strip() else ""
            found.append(
                Block(file, tok.map[0] + 1, lang, tok.content, section, chapter, pending_skip)
            )
            pending_skip = None
        elif tok.type == "paragraph_open":
            pending_skip = None
    return tuple(found)


def all_blocks() -> list[Block]:
    return [b for f in DOC_FILES for b in blocks(f)]


def in_chapter(file: str, chapter: str) -> list[Block]:
    return [b for b in blocks(file) if b.chapter == chapter]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def squash(text: str) -> str:
    """Text without any whitespace: how an expected output and an actual one are compared."""
    return re.sub(r"\s+", "", text)


def shown_output(comment_lines: list[str]) -> list[str]:
    """The fragments an output comment promises (`# {"a":1,...}`), split at each `...`."""
    text = "".join(line.lstrip()[1:] for line in comment_lines)
    text = re.sub(r"\(.*?\)\s*$", "", text.strip())  # a trailing "(picked up where it was)"
    return [f for f in (squash(part) for part in text.split("...")) if f]


def matches(fragments: list[str], output: str) -> bool:
    """True when every fragment appears in `output`, in order (whitespace ignored)."""
    actual, at = squash(output), 0
    for fragment in fragments:
        found = actual.find(fragment, at)
        if found < 0:
            return False
        at = found + len(fragment)
    return True


def copy_project(dest: Path, *parts: str) -> Path:
    """Copy folders of the repository (functions/, components/...) into `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in parts:
        shutil.copytree(
            REPO / part,
            dest / part,
            ignore=shutil.ignore_patterns("__pycache__", ".funchost"),
        )
    return dest


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a child process: this interpreter's bin first on PATH, no Dapr
    addresses or funchost settings left over from another test."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DAPR_", "APP_", "FUNCHOST_", "PYTEST_"))
        or k == "FUNCHOST_REGISTRY_DIR"  # the session's own name registry (tests/conftest.py)
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["FUNCHOST_LOG_FORMAT"] = "json"
    env.update(extra)
    return env


def run_pytest(project: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m pytest` in `project`, as a user would run it there."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
