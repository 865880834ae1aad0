"""MkDocs hooks: the repository's README files become pages of the site.

The README is the home page, `k8s/README.md` and `components/README.md` are pages too, so
the site and the repository show the same text; links between them are rewritten from
repository paths to page paths, and a link to a repository file that has no page (LICENSE, a
source file) becomes its plain text. `docs/architecture.md` joins the navigation when present.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]

# page path on the site -> (source in the repository, the folder its links are relative to)
PAGES = {
    "index.md": ROOT / "README.md",
    "kubernetes.md": ROOT / "k8s" / "README.md",
    "components.md": ROOT / "components" / "README.md",
}
_LINK = re.compile(r"\[([^\]]*)\]\((?!https?://|mailto:|#)([^)#\s]+)(#[^)\s]*)?\)")


def _page_for(target: Path) -> str | None:
    """The site page for a repository file, or None when it is not on the site."""
    for page, source in PAGES.items():
        if target == source:
            return page
    docs = ROOT / "docs"
    if target.is_relative_to(docs) and target.suffix == ".md":
        return target.relative_to(docs).as_posix()
    return None


def _rewrite(text: str, source: Path, page_dir: str = "") -> str:
    """Rewrite the links of `source`, a page in folder `page_dir` of the site."""

    def repl(match: re.Match[str]) -> str:
        text, path, anchor = match.groups()
        target = (source.parent / path).resolve()
        if source.is_relative_to(ROOT / "docs") and target.is_relative_to(ROOT / "docs"):
            return match.group(0)  # a link between pages of docs/: MkDocs checks it
        page = _page_for(target)
        if page is not None:
            return f"[{text}]({posixpath.relpath(page, page_dir or '.')}{anchor or ''})"
        if target.exists():
            return text  # a repository file the site has no page for (LICENSE, a .py file)
        return match.group(0)  # a broken link: left for the strict build to report

    return _LINK.sub(repl, text)


def on_config(config: Any) -> Any:
    """Put docs/architecture.md in the navigation, after Home, when it exists."""
    nav = config["nav"]
    if (ROOT / "docs" / "architecture.md").exists() and not any(
        "architecture.md" in entry.values() for entry in nav if isinstance(entry, dict)
    ):
        nav.insert(1, {"Architecture": "architecture.md"})
    return config


def on_files(files: Files, config: Any) -> Files:
    """Add the README pages, generated from their sources with links rewritten."""
    for page, source in PAGES.items():
        content = _rewrite(source.read_text(encoding="utf-8"), source)
        files.append(File.generated(config, page, content=content))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Rewrite repository-relative links in the pages of docs/ too."""
    source = ROOT / "docs" / page.file.src_uri
    if not source.exists():
        return markdown
    return _rewrite(markdown, source, posixpath.dirname(page.file.src_uri))
