"""A tiny non-SDK HTTP app (standard library only) for multi-app tests: echoes every request.

Listens on 127.0.0.1:$APP_PORT. Any verb, any path: answers JSON describing the request (app id,
method, path, query, headers, base64 body), with `X-Echo-App: $APP_ID`. Query controls:
`status=NNN` answers that status; `raw=<content-type>` answers the request body as is with that
content type; `sleep=S` waits S seconds first; `fail=N&key=K` answers 503 the first N times per K.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

APP_ID = os.environ.get("APP_ID", "echo")
_failures: dict[str, int] = {}
_lock = threading.Lock()


class Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.command} {self.path}", flush=True)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if "sleep" in q:
            time.sleep(float(q["sleep"]))
        status = int(q.get("status", 200))
        if "fail" in q:
            with _lock:
                seen = _failures.get(q.get("key", ""), 0)
                _failures[q.get("key", "")] = seen + 1
            status = 503 if seen < int(q["fail"]) else 200
        if "raw" in q:
            out, ctype = body, q["raw"]
        else:
            out = json.dumps(
                {
                    "app": APP_ID,
                    "method": self.command,
                    "path": url.path,
                    "query": url.query,
                    "headers": {k.lower(): v for k, v in self.headers.items()},
                    "body": base64.b64encode(body).decode(),
                }
            ).encode()
            ctype = "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("X-Echo-App", APP_ID)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    def __getattr__(self, name: str) -> object:
        if name.startswith("do_"):
            return self._handle
        raise AttributeError(name)


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    port = int(os.environ.get("APP_PORT") or sys.argv[1])
    server = ThreadingHTTPServer(("127.0.0.1", port), Echo)
    print(f"echo app {APP_ID} on {port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    print(f"echo app {APP_ID} stopped", flush=True)


if __name__ == "__main__":
    main()
