"""A subscriber app for the cross-app pub/sub tests (standard library only).

Listens on 127.0.0.1:$APP_PORT; subscribes to $SUB_TOPIC on pub/sub `pubsub` (route /events);
every delivered event's `data.n` is appended as `<APP_ID> <n>` to the file $SUB_RECORD.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

APP_ID = os.environ["APP_ID"]
TOPIC = os.environ["SUB_TOPIC"]
RECORD = Path(os.environ["SUB_RECORD"])
_lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _answer(self, doc: object) -> None:
        body = json.dumps(doc).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/dapr/subscribe":
            self._answer([{"pubsubname": "pubsub", "topic": TOPIC, "route": "/events"}])
        else:
            self._answer({})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        event = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/events":
            with _lock, RECORD.open("a") as fh:
                fh.write(f"{APP_ID} {event['data']['n']}\n")
        self._answer({"status": "SUCCESS"})


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Handler)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
