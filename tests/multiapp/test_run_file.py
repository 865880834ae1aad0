"""`funchost run -f dapr.yaml`: Dapr's multi-app run template, real processes on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from funchost.runfile import RunFileError, load_run_file
from funchost.sidecar import resolution

from .conftest import ECHO_APP, FUNCHOST


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("apps:\n  - appDirPath: .\n", ":1: version: required field 'version' not found"),
        ("version: 0\napps:\n  - appDirPath: .\n", ":1: version: "),
        ("version: 1\napps:\n  - appDirPath: .\n    appPort: web\n", ":4: apps[0].appPort: "),
        ("version: 1\napps:\n  - appID: x\n", ":3: apps[0].appDirPath: required field"),
        (
            "version: 1\napps:\n  - appDirPath: .\n    command: python app.py\n",
            ":4: apps[0].command",
        ),
        ("version: 1\napps:\n  - appDirPath: ./nowhere\n", ":3: apps[0].appDirPath: folder"),
        ("version: 1\napps: [\n", ":3: not valid YAML"),
        (
            "version: 1\napps:\n  - appDirPath: .\n    appID: a\n  - appDirPath: .\n    appID: a\n",
            ":6: apps[1].appID: app id 'a' is already used by apps[0]",
        ),
        (
            "version: 1\ncommon:\n  appLogDestination: printer\napps:\n  - appDirPath: .\n",
            ":3: common.appLogDestination: ",
        ),
    ],
)
def test_malformed_run_file_names_file_line_and_field(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _write(tmp_path / "dapr.yaml", text)
    with pytest.raises(RunFileError) as err:
        load_run_file(path)
    assert f"{path}{expected}" in str(err.value)


def test_template_resolves_like_dapr_run_f(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "svc" / ".dapr" / "resources").mkdir(parents=True)
    (tmp_path / "web" / "res").mkdir(parents=True)
    _write(
        tmp_path / "dapr.yaml",
        """
        version: 1
        common:
          resourcesPaths: [./shared]
          env: {DEBUG: true, LEVEL: 1}
          appProtocol: http
        apps:
          - appDirPath: ./svc
            command: ["python3", "svc.py"]
            appPort: 7001
            daprHTTPPort: 3601
          - appDirPath: ./web
            appID: webapp
            resourcesPath: ./res
            env: {LEVEL: 2}
            daprGRPCPort: -1
          - appDirPath: ./shared
            unknownKnob: 1
        """,
    )
    spec = load_run_file(tmp_path)  # a folder means its dapr.yaml
    svc, web, shared = spec.apps
    assert (svc.app_id, svc.app_port, svc.dapr_http_port, svc.command) == (
        "svc", 7001, 3601, ["python3", "svc.py"]
    )  # fmt: skip
    assert svc.resources == [tmp_path / "svc" / ".dapr" / "resources"]
    assert svc.env == {"DEBUG": "true", "LEVEL": "1"} and svc.daprd_log_destination == "file"
    assert web.app_id == "webapp" and web.is_functions_folder and web.dapr_grpc_port is None
    assert web.resources == [tmp_path / "web" / "res"] and web.env["LEVEL"] == "2"
    assert shared.resources == [tmp_path / "shared"]
    assert any(":17: apps[2].unknownKnob: unknown field" in w for w in spec.warnings)


GREETER = """
from funchost import invoke


@invoke("hello", methods=("GET", "POST"))
async def hello() -> dict[str, str]:
    return {"hello": "from greeter"}
"""


class _Launcher:
    """`funchost run -f` as a child process, its output collected line by line."""

    def __init__(self, run_file: Path, registry: Path) -> None:
        env = {"FUNCHOST_REGISTRY_DIR": str(registry), "FUNCHOST_LOG_FORMAT": "json"}
        self.proc = subprocess.Popen(
            [*FUNCHOST, "run", "-f", str(run_file)],
            env={**__import__("os").environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.append(raw.decode(errors="replace").rstrip())

    def wait_for(self, text: str, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"no {text!r} in output:\n" + "\n".join(self.lines))


def test_run_file_starts_functions_and_command_apps_that_invoke_each_other(
    tmp_path: Path,
) -> None:
    registry = tmp_path / "registry"
    _write(tmp_path / "greeter" / "greet.py", GREETER)
    (tmp_path / "echo").mkdir()
    (tmp_path / "echo2").mkdir()
    run_file = _write(
        tmp_path / "dapr.yaml",
        f"""
        version: 1
        common:
          env: {{GREETING: hi}}
        apps:
          - appDirPath: ./greeter
          - appDirPath: ./echo
            appID: echo
            appPort: {_port()}
            command: ["{sys.executable}", "{ECHO_APP}"]
          - appDirPath: ./echo2
            appID: echo-two
            appPort: {_port()}
            appLogDestination: console
            command: ["{sys.executable}", "{ECHO_APP}"]
        """,
    )
    launcher = _Launcher(run_file, registry)
    try:
        launcher.wait_for("3 apps running")
        apps = {a.app_id: a for a in resolution.list_apps(registry)}
        assert set(apps) == {"greeter", "echo", "echo-two"}
        # the command app got dapr run's environment, and answers through its sidecar
        echo_url = apps["echo"].http_url
        got = httpx.get(f"{apps['greeter'].http_url}/v1.0/invoke/echo/method/ping?x=1").json()
        assert got["app"] == "echo" and got["query"] == "x=1"
        assert got["headers"]["dapr-caller-app-id"] == "greeter"
        r = httpx.post(f"{echo_url}/v1.0/invoke/greeter/method/hello", timeout=30)
        assert r.status_code == 200 and r.json() == {"hello": "from greeter"}
        r = httpx.get(f"{apps['echo-two'].http_url}/v1.0/invoke/echo/method/x")
        assert r.json()["app"] == "echo"
        launcher.wait_for("== APP - echo-two == echo app echo-two on")
        # app logs default to console and file; the sidecar's to a file only
        logs = list((tmp_path / "echo" / ".dapr" / "logs").glob("echo_*.log"))
        assert {p.name.split("_")[1] for p in logs} == {"app", "daprd"}
    finally:
        launcher.proc.send_signal(signal.SIGINT)  # Ctrl-C
        code = launcher.proc.wait(90)
    out = "\n".join(launcher.lines)
    assert code == 0, out
    assert out.index("stopping apps") < out.index("stopping sidecars")
    assert out.index("echo app echo stopped") < out.index("stopping sidecars")
    assert resolution.list_apps(registry) == []
    assert not list(registry.glob("*.json"))  # every entry removed on the clean stop


def test_run_file_whose_app_cannot_start_stops_the_rest_and_fails(tmp_path: Path) -> None:
    (tmp_path / "ok").mkdir()
    (tmp_path / "bad").mkdir()
    run_file = _write(
        tmp_path / "dapr.yaml",
        f"""
        version: 1
        apps:
          - appDirPath: ./ok
            command: ["{sys.executable}", "-c", "import time; time.sleep(60)"]
          - appDirPath: ./bad
            command: ["/nonexistent/binary-for-test"]
        """,
    )
    launcher = _Launcher(run_file, tmp_path / "registry")
    code = launcher.proc.wait(90)
    out = "\n".join(launcher.lines)
    assert code == 1, out
    assert "command ['/nonexistent/binary-for-test'] of 'bad' did not start" in out
    assert json.dumps([]) == json.dumps(resolution.list_apps(tmp_path / "registry"))


def _port() -> int:
    from funchost.sidecar import free_port

    return free_port()


NODE_APP = """
const http = require("http");
http.createServer((req, res) => {
  let body = "";
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => {
    res.writeHead(201, {"content-type": "text/plain", "x-node-app": process.env.APP_ID});
    res.end(`${req.method} ${req.url} ${body} ${process.env.DAPR_HTTP_PORT}`);
  });
}).listen(Number(process.env.APP_PORT), "127.0.0.1");
"""


def test_run_file_runs_a_node_app_next_to_its_own_sidecar(tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the non-Python command app needs it")
    _write(tmp_path / "web" / "server.js", NODE_APP)
    (tmp_path / "caller").mkdir()
    run_file = _write(
        tmp_path / "dapr.yaml",
        f"""
        version: 1
        apps:
          - appDirPath: ./web
            appID: node-web
            appPort: {_port()}
            command: ["node", "server.js"]
          - appDirPath: ./caller
            command: ["{sys.executable}", "-c", "import time; time.sleep(600)"]
        """,
    )
    registry = tmp_path / "registry"
    launcher = _Launcher(run_file, registry)
    try:
        launcher.wait_for("2 apps running")
        apps = {a.app_id: a for a in resolution.list_apps(registry)}
        r = httpx.put(
            f"{apps['caller'].http_url}/v1.0/invoke/node-web/method/items/1?x=y", content=b"data"
        )
        assert r.status_code == 201 and r.headers["x-node-app"] == "node-web"
        assert r.text == f"PUT /items/1?x=y data {apps['node-web'].http_port}"
    finally:
        launcher.proc.send_signal(signal.SIGTERM)
        assert launcher.proc.wait(90) == 0, "\n".join(launcher.lines)


def test_killing_the_launcher_leaves_no_app_behind(tmp_path: Path) -> None:
    (tmp_path / "sleeper").mkdir()
    run_file = _write(
        tmp_path / "dapr.yaml",
        f"""
        version: 1
        apps:
          - appDirPath: ./sleeper
            command: ["{sys.executable}", "-c", "import time; time.sleep(600)"]
        """,
    )
    registry = tmp_path / "registry"
    launcher = _Launcher(run_file, registry)
    launcher.wait_for("1 app running")
    found = resolution.list_apps(registry)
    assert len(found) == 1, launcher.lines
    entry = found[0]
    launcher.proc.kill()  # kill -9: no chance to stop anything
    launcher.proc.wait(10)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and resolution.list_apps(registry):
        time.sleep(0.1)
    assert resolution.list_apps(registry) == []
    while time.monotonic() < deadline and not _gone(entry.pid):
        time.sleep(0.1)
    assert _gone(entry.pid)  # the sidecar died with its launcher


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
