"""Name resolution for many apps on one machine: the local stand-in for self-hosted daprd's mDNS.

Every embedded sidecar started by `funchost run` or `funchost sidecar` registers its app id in a
registry directory shared by every sidecar of the same user:

- `<dir>/<app-id>.lock`: held with an exclusive `flock` for the life of the process, so two live
  processes cannot both claim an id, and a crashed process (kill -9) frees it by dying;
- `<dir>/<app-id>.json`: the `AppAddress` (namespace, pid, sidecar HTTP/gRPC ports, app port and
  protocol), written atomically (temporary file + rename) once the sidecar listens.

`resolve()` ignores and deletes stale entries: a lock nobody holds, a dead pid, or a sidecar HTTP
port that no longer accepts connections. `Registration.close()` removes the entry on a clean stop.
The directory is `FUNCHOST_REGISTRY_DIR`, else `$XDG_RUNTIME_DIR/funchost/apps`, else
`~/.funchost/apps`. Like daprd's mDNS resolver, one app id is one entry whatever its namespace;
`resolve(app_id, namespace)` answers None when the registered namespace differs.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import socket
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "AppAddress",
    "AppIdTaken",
    "Registration",
    "list_apps",
    "register",
    "registry_dir",
    "resolve",
]

ENV_DIR = "FUNCHOST_REGISTRY_DIR"
DEFAULT_NAMESPACE = "default"
_VALID_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class AppAddress:
    """Where a registered app's sidecar (and the app behind it) listens on loopback."""

    app_id: str
    namespace: str
    pid: int
    http_port: int
    grpc_port: int
    app_port: int | None = None
    app_protocol: str = "http"
    host: str = "127.0.0.1"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def grpc_address(self) -> str:
        return f"{self.host}:{self.grpc_port}"


class AppIdTaken(Exception):
    """Another live process holds the app id."""

    def __init__(self, app_id: str, pid: int | None, directory: Path) -> None:
        holder = f"pid {pid}" if pid else "another process"
        super().__init__(
            f"app id {app_id!r} is already in use by {holder} (registry {directory}): stop that "
            "app or choose another --app-id"
        )
        self.app_id = app_id
        self.pid = pid


def registry_dir() -> Path:
    """The registry directory: FUNCHOST_REGISTRY_DIR, else the user's runtime dir, else home."""
    explicit = os.environ.get(ENV_DIR)
    if explicit:
        return Path(explicit).expanduser()
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime) and os.access(runtime, os.W_OK):
        return Path(runtime) / "funchost" / "apps"
    return Path.home() / ".funchost" / "apps"


def _dir(directory: Path | str | None) -> Path:
    path = Path(directory) if directory is not None else registry_dir()
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _check_id(app_id: str) -> None:
    if not _VALID_ID.match(app_id):
        raise ValueError(
            f"app id {app_id!r} is not valid: use letters, digits, '-' and '_' "
            "(a '.' separates the namespace, as in <app-id>.<namespace>)"
        )


def _read(path: Path) -> AppAddress | None:
    try:
        raw = json.loads(path.read_text())
        return AppAddress(**{k: raw[k] for k in AppAddress.__dataclass_fields__ if k in raw})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_held(lock_path: Path) -> bool:
    """True when some process holds the id's flock (so its claim is live)."""
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return True
        raise
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _port_closed(host: str, port: int, timeout: float = 0.5) -> bool:
    """True only when the port refuses connections: a slow (busy) sidecar is not stale."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def _write_atomic(path: Path, doc: dict[str, Any]) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class JsonDocs:
    """The JSON documents (`*.json`) of one registry folder, re-read only when a file changes."""

    def __init__(self, directory: Path | None, suffix: str = ".json") -> None:
        self.directory = directory
        self.suffix = suffix
        self._seen: dict[str, tuple[int, dict[str, Any]]] = {}  # file -> (mtime_ns, doc)

    def write(self, name: str, doc: dict[str, Any]) -> None:
        """Write `doc` as `<name><suffix>` atomically (the folder made private if new)."""
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        _write_atomic(self.directory / f"{name}{self.suffix}", doc)

    def read_all(self) -> list[dict[str, Any]]:
        """Every document of the folder (unreadable or half-written files skipped)."""
        if self.directory is None:
            return []
        docs = []
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.directory):
                if not entry.name.endswith(self.suffix) or entry.name.startswith("."):
                    continue
                try:
                    mtime = entry.stat().st_mtime_ns
                    cached = self._seen.get(entry.name)
                    if cached is None or cached[0] != mtime:
                        cached = (mtime, json.loads(Path(entry.path).read_text()))
                        self._seen[entry.name] = cached
                except (OSError, ValueError):
                    continue
                docs.append(cached[1])
        return docs


class Registration:
    """This process's claim on an app id; `publish()` writes the address, `close()` removes it."""

    def __init__(self, app_id: str, namespace: str, directory: Path, lock_fd: int) -> None:
        self.app_id = app_id
        self.namespace = namespace
        self.directory = directory
        self._lock_fd: int | None = lock_fd
        self.address: AppAddress | None = None

    @property
    def entry_path(self) -> Path:
        return self.directory / f"{self.app_id}.json"

    def publish(
        self,
        http_port: int,
        grpc_port: int,
        app_port: int | None = None,
        app_protocol: str = "http",
    ) -> AppAddress:
        """Write (or rewrite) the entry atomically once the sidecar listens."""
        self.address = AppAddress(
            app_id=self.app_id,
            namespace=self.namespace,
            pid=os.getpid(),
            http_port=http_port,
            grpc_port=grpc_port,
            app_port=app_port,
            app_protocol=app_protocol,
        )
        _write_atomic(self.entry_path, asdict(self.address))
        return self.address

    def close(self) -> None:
        """Remove the entry and release the id (clean shutdown); safe to call twice."""
        if self._lock_fd is None:
            return
        current = _read(self.entry_path)
        if current is not None and current.pid == os.getpid():
            with contextlib.suppress(FileNotFoundError):
                self.entry_path.unlink()
        fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        os.close(self._lock_fd)
        self._lock_fd = None

    def __enter__(self) -> Registration:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def claim(
    app_id: str, namespace: str | None = None, directory: Path | str | None = None
) -> Registration:
    """Claim `app_id` for this process (exclusive flock); `AppIdTaken` names the holder's pid.

    A stale entry left by a dead process is replaced. Call `publish()` once the ports are known.
    """
    _check_id(app_id)
    folder = _dir(directory)
    lock_path = folder / f"{app_id}.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            held = _read(folder / f"{app_id}.json")
            raise AppIdTaken(app_id, held.pid if held else None, folder) from None
        raise
    stale = folder / f"{app_id}.json"
    with contextlib.suppress(FileNotFoundError):
        stale.unlink()
    return Registration(app_id, namespace or DEFAULT_NAMESPACE, folder, fd)


def register(
    app_id: str,
    *,
    http_port: int,
    grpc_port: int,
    app_port: int | None = None,
    app_protocol: str = "http",
    namespace: str | None = None,
    directory: Path | str | None = None,
) -> Registration:
    """Claim `app_id` and publish its addresses in one step; keep the result and `close()` it."""
    reg = claim(app_id, namespace, directory)
    try:
        reg.publish(http_port, grpc_port, app_port, app_protocol)
    except BaseException:
        reg.close()
        raise
    return reg


def _live(path: Path, check_port: bool) -> AppAddress | None:
    """The entry at `path` when its owner is alive and listening; a stale entry is deleted.

    Lock files are never deleted: unlinking one another process may be about to flock would let
    two processes claim the same id.
    """
    entry = _read(path)
    if entry is None:
        return None  # being written, or unreadable: a live claimant rewrites it
    own = entry.pid == os.getpid()  # our own claim: the flock is ours, so it cannot tell
    alive = own or (_lock_held(path.with_suffix(".lock")) and _pid_alive(entry.pid))
    if alive and not (check_port and _port_closed(entry.host, entry.http_port)):
        return entry
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return None


def resolve(
    app_id: str,
    namespace: str | None = None,
    *,
    directory: Path | str | None = None,
    check_port: bool = True,
) -> AppAddress | None:
    """The live address of `app_id` (in `namespace` when given), or None; stale entries go."""
    if not _VALID_ID.match(app_id):
        return None
    folder = Path(directory) if directory is not None else registry_dir()
    entry = _live(folder / f"{app_id}.json", check_port)
    if entry is None:
        return None
    if namespace and entry.namespace != namespace:
        return None
    return entry


def list_apps(directory: Path | str | None = None, *, check_port: bool = True) -> list[AppAddress]:
    """Every live registered app, by app id; stale entries are deleted on the way."""
    folder = Path(directory) if directory is not None else registry_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        entry = _live(path, check_port)
        if entry is not None:
            found.append(entry)
    return found
