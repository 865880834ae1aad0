"""A throwaway PostgreSQL cluster for tests (initdb + pg_ctl on a free loopback port).

`postgres_dsn()` is the session fixture's body: FUNCHOST_TEST_POSTGRES_DSN when set (what
.ci/run exports), else a fresh cluster in a temp dir, started as user `postgres` when running as
root (PostgreSQL refuses root). It skips, with the reason, when neither is possible.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from funchost.sidecar import free_port


def _pg_bin() -> Path:
    """FUNCHOST_TEST_PG_BIN, else Debian's newest /usr/lib/postgresql/<n>/bin (15 preferred)."""
    if os.environ.get("FUNCHOST_TEST_PG_BIN"):
        return Path(os.environ["FUNCHOST_TEST_PG_BIN"])
    preferred = Path("/usr/lib/postgresql/15/bin")
    if preferred.exists():
        return preferred
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name)
    return found[-1] if found else preferred


PG_BIN = _pg_bin()


def _as_user(cmd: list[str], user: str | None) -> list[str]:
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


def postgres_dsn() -> Iterator[str]:
    dsn = os.environ.get("FUNCHOST_TEST_POSTGRES_DSN")
    if dsn:
        yield dsn
        return
    pytest.importorskip("psycopg", reason="psycopg 3 missing: pip install 'funchost[postgres]'")
    if not (PG_BIN / "initdb").exists() or not (PG_BIN / "pg_ctl").exists():
        pytest.skip(f"no PostgreSQL binaries in {PG_BIN} (apt-get install postgresql)")
    user: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run PostgreSQL")
        user = "postgres"
    base = Path(tempfile.mkdtemp(prefix="funchost-pg-"))
    data = base / "data"
    if user:
        shutil.chown(base, user)
    port = free_port()
    log = base / "pg.log"
    try:
        subprocess.run(
            _as_user(
                [str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"], user
            ),
            check=True,
            capture_output=True,
        )
        opts = f"-h 127.0.0.1 -p {port} -k {base} -c fsync=off -c max_connections=50"
        subprocess.run(
            _as_user(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(data),
                    "-l",
                    str(log),
                    "-o",
                    opts,
                    "-w",
                    "start",
                ],
                user,
            ),
            check=True,
            capture_output=True,
            timeout=60,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(
            f"could not start a throwaway PostgreSQL: {exc} {detail.decode(errors='replace')}"
        )
    try:
        yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
    finally:
        subprocess.run(
            _as_user([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], user),
            capture_output=True,
        )
        shutil.rmtree(base, ignore_errors=True)
