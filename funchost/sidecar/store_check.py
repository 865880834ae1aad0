"""Checks on the sidecar database before and while it is used: WAL damage, integrity, lock holders.

Why a WAL check of our own: when SQLite opens a database whose `-wal` file is damaged, recovery
reads frames in order and stops at the first frame whose salts or cumulative checksum do not
match; every transaction after that point is dropped *silently* (and the next checkpoint makes
the loss permanent). `PRAGMA quick_check` cannot see it, since it runs on what recovery kept.

The method (`wal_damage`), on the WAL file as SQLite would recover it:

1. The 32-byte header must carry the WAL magic and a valid checksum; if not, SQLite ignores the
   whole file, so a non-empty WAL with a bad header is damage.
2. Frames are validated as recovery does (salts equal to the header's, checksum chained from the
   previous frame); the valid prefix ends at the first frame that fails.
3. After that point, a frame that belongs to the live WAL generation (the header's salts), is a
   commit frame, and whose checksum is valid *chained from the frame just before it* is a
   committed transaction that recovery would drop: damage. Leftovers SQLite itself leaves behind
   are told apart: frames of an older generation carry other salts, and frames of a rolled-back
   transaction never include a commit frame.

Damage of the very last frames only (nothing valid after them) cannot be told from a torn write
at power loss; use `FUNCHOST_SYNC=full` where that matters (docs/operations.md).
"""

from __future__ import annotations

import os
import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

WAL_MAGIC = (0x377F0682, 0x377F0683)
WAL_HEADER = 32
FRAME_HEADER = 24


@dataclass(frozen=True)
class WalDamage:
    """What is wrong with a `-wal` file and how much recovery would drop."""

    wal: str
    reason: str
    valid_frames: int
    dropped_commits: int

    def __str__(self) -> str:
        return (
            f"{self.wal} is damaged: {self.reason}; SQLite would silently drop "
            f"{self.dropped_commits or 'all'} committed transaction(s) after frame "
            f"{self.valid_frames}"
        )


def _checksum(data: bytes, s1: int, s2: int, big_endian: bool) -> tuple[int, int]:
    fmt = ">II" if big_endian else "<II"
    for x0, x1 in struct.iter_unpack(fmt, data):
        s1 = (s1 + x0 + s2) & 0xFFFFFFFF
        s2 = (s2 + x1 + s1) & 0xFFFFFFFF
    return s1, s2


def _frames(raw: bytes, page_size: int) -> Iterator[tuple[int, bytes, bytes]]:
    """(index from 1, frame header, page) of every whole frame slot in the file."""
    size = FRAME_HEADER + page_size
    offsets = range(WAL_HEADER, len(raw) - size + 1, size)
    for index, offset in enumerate(offsets, start=1):
        yield index, raw[offset : offset + FRAME_HEADER], raw[offset + FRAME_HEADER : offset + size]


def wal_damage(db_path: str | Path) -> WalDamage | None:
    """The damage of `db_path`'s `-wal` file that SQLite's recovery would hide, or None."""
    wal = f"{db_path}-wal"
    try:
        raw = Path(wal).read_bytes()
    except FileNotFoundError:
        return None
    if not raw:
        return None
    if len(raw) < WAL_HEADER:
        return WalDamage(wal, f"truncated header ({len(raw)} bytes)", 0, 0)
    magic, _version, page_size, _seq, salt1, salt2, c1, c2 = struct.unpack(">8I", raw[:32])
    if magic not in WAL_MAGIC or page_size < 512 or page_size & (page_size - 1):
        return WalDamage(wal, "bad header (not a WAL magic number or page size)", 0, 0)
    big = bool(magic & 1)
    if _checksum(raw[:24], 0, 0, big) != (c1, c2):
        return WalDamage(wal, "bad header checksum", 0, 0)
    s1, s2 = c1, c2
    valid = 0
    broken_at = 0
    prev: tuple[int, int] | None = None
    dropped = 0
    for index, head, page in _frames(raw, page_size):
        pgno, commit, f_salt1, f_salt2, f1, f2 = struct.unpack(">6I", head)
        ours = (f_salt1, f_salt2) == (salt1, salt2)
        if not broken_at:
            expect = _checksum(page, *_checksum(head[:8], s1, s2, big), big)
            if ours and pgno and expect == (f1, f2):
                s1, s2 = f1, f2
                if commit:
                    valid = index
                prev = (f1, f2)
                continue
            broken_at = index
            prev = (f1, f2)
            continue
        chained = prev is not None and _checksum(page, *_checksum(head[:8], *prev, big), big)
        if ours and commit and chained == (f1, f2):
            dropped += 1
        prev = (f1, f2)
    if dropped:
        return WalDamage(wal, f"frame {broken_at} fails its checksum", valid, dropped)
    return None


def quick_check(conn: sqlite3.Connection) -> str | None:
    """`PRAGMA quick_check`'s findings (None when "ok")."""
    rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
    return None if rows == ["ok"] else "; ".join(rows)


def lock_holders(path: str | Path) -> list[int]:
    """Pids (other than ours) holding a POSIX lock on the database or its `-shm` (/proc/locks)."""
    inodes = set()
    for name in (str(path), f"{path}-shm", f"{path}-wal"):
        try:
            st = os.stat(name)
        except OSError:
            continue
        inodes.add((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))
    pids: set[int] = set()
    try:
        lines = Path("/proc/locks").read_text().splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.split()
        # "1: POSIX  ADVISORY  WRITE 1234 08:01:5678 0 EOF" (blocked waiters have "->")
        if "->" in parts:
            parts.remove("->")
        if len(parts) < 6 or parts[1] not in ("POSIX", "OFDLCK"):
            continue
        try:
            major, minor, ino = parts[5].split(":")
            key = (int(major, 16), int(minor, 16), int(ino))
            pid = int(parts[4])
        except ValueError:
            continue
        if key in inodes and pid not in (os.getpid(), -1):
            pids.add(pid)
    return sorted(pids)


def describe_pids(pids: list[int]) -> str:
    """'pid 12 (python3 app.py), pid 13 (sqlite3 x.db)' from /proc, or 'unknown process'."""
    out = []
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            cmd = "?"
        out.append(f"pid {pid} ({cmd[:80]})")
    return ", ".join(out) or "an unknown process (no lock found in /proc/locks)"
