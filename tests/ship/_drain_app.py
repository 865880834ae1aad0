"""A subprocess app for the SIGTERM drain test: `python _drain_app.py PORT GRACE DIR [MODE]`.

MODE "installed" (default) calls `install_drain` on the app; "wrapped" leaves it to
`DrainingServer` (grace from FUNCHOST_SHUTDOWN_GRACE).

`GET /slow` writes DIR/started, then waits until DIR/release exists; `GET /fast` answers at once.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from funchost.shutdown import DrainingServer, install_drain


def build(folder: Path, grace: float, mode: str) -> FastAPI:
    app = FastAPI()
    if mode == "installed":
        install_drain(app, grace=grace)

    @app.get("/fast")
    async def fast() -> dict[str, str]:
        return {"status": "fast"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/slow")
    async def slow() -> dict[str, str]:
        (folder / "started").write_text("1")
        while not (folder / "release").exists():
            await asyncio.sleep(0.02)
        return {"status": "finished"}

    return app


if __name__ == "__main__":
    port, grace, folder = int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
    mode = sys.argv[4] if len(sys.argv) > 4 else "installed"
    app = build(folder, grace, mode)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info")
    DrainingServer(config).run()
