"""What every rendered resource uses: the document type and DNS-1123 names."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["Doc", "dns_name"]

Doc = dict[str, Any]


def dns_name(*parts: str) -> str:
    """A DNS-1123 name (lower case, '-', at most 63 characters) joined from `parts`."""
    text = "-".join(p for p in parts if p)
    text = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    text = re.sub(r"-{2,}", "-", text)
    return text[:63].rstrip("-") or "funchost"
