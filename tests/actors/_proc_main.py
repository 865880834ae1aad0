"""Sidecar (real clock) + actor app in one process, for the kill -9 test.

Usage: python _proc_main.py DB HTTP_PORT APP_PORT EVENTS_FILE
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import _actors_app

from funchost.sidecar import Sidecar, SidecarConfig, SidecarThread


def main() -> None:
    db, http_port, app_port, events = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    os.environ["DAPR_HTTP_PORT"] = str(http_port)
    _actors_app.REC.file = events
    config = SidecarConfig(
        app_id="actors-proc", app_port=app_port, http_port=http_port, grpc_port=0, db_path=db
    )
    thread = SidecarThread(Sidecar(config))
    thread.start()
    _actors_app.AppServer(_actors_app.build_app(), app_port).start()
    thread.call(thread.sidecar.wait_app_ready(30))
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
