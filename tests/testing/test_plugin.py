"""The pytest plugin tested as pytest's own plugins are: a user project run under pytester.

Each test writes the sample project (tests/testing/_testing_sample.py) into pytester's temporary
directory and runs pytest on it in a subprocess (the plugin is loaded from its entry point, as
in a user's installation).
"""

from __future__ import annotations

import pytest
from _testing_sample import USER_TESTS, write_sample

pytestmark = pytest.mark.e2e


def test_sample_project_tests_using_every_helper_pass(pytester: pytest.Pytester) -> None:
    write_sample(pytester)
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=USER_TESTS.count("\nasync def test_"))


def test_a_failing_user_assertion_fails(pytester: pytest.Pytester) -> None:
    write_sample(
        pytester,
        tests=None,
        test_wrong="""
import pytest

@pytest.mark.funchost(path="functions")
async def test_wrong_amount(funchost_runtime):
    await funchost_runtime.publish("pubsub", "orders", {"id": "o1", "amount": 3})
    await funchost_runtime.idle()
    order = await funchost_runtime.state().get("order-o1")
    assert order["amount"] == 4
""",
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert 3 == 4*"])


def test_advancing_the_clock_fires_a_1h_reminder_and_a_24h_timer(
    pytester: pytest.Pytester,
) -> None:
    """A real hour and a real day would time these tests out: they pass on the virtual clock."""
    write_sample(
        pytester,
        tests=None,
        test_clock="""
from datetime import timedelta
import time

import pytest

from functions.alarm import AlarmInterface

pytestmark = pytest.mark.funchost(path="functions")


async def test_reminder(funchost_runtime):
    alarm = funchost_runtime.actor("Alarm", "a1", AlarmInterface)
    await alarm.Arm(3600)
    before = funchost_runtime.now()
    await funchost_runtime.advance(timedelta(minutes=30))
    assert await alarm.Rang() == 0
    after = await funchost_runtime.advance(timedelta(minutes=30))
    assert after - before == timedelta(hours=1)
    assert await alarm.Rang() == 1


async def test_workflow_timer(funchost_runtime):
    instance = await funchost_runtime.workflows.start("approval", input={"id": "x"})
    await funchost_runtime.idle()
    with pytest.raises(AssertionError, match="still RUNNING"):
        await funchost_runtime.workflows.wait(instance, timeout=1)
    await funchost_runtime.advance(timedelta(hours=24))
    assert await funchost_runtime.workflows.result(instance, timeout=10) == "timed out"
""",
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("mode", ["inprocess", pytest.param("subprocess", marks=pytest.mark.slow)])
def test_crash_and_restart_resumes_a_workflow(pytester: pytest.Pytester, mode: str) -> None:
    write_sample(
        pytester,
        tests=None,
        test_crash=f'''
from datetime import timedelta

import pytest

pytestmark = pytest.mark.funchost(path="functions", mode="{mode}")


async def test_resume_after_crash(journal, funchost_runtime):  # journal first: sets the env
    wf = funchost_runtime.workflows
    instance = await wf.start("approval", input={{"id": "r1"}})
    await funchost_runtime.idle()
    await funchost_runtime.advance(timedelta(hours=12))
    await funchost_runtime.crash_and_restart()
    assert (await wf.status(instance)).runtime_status.name == "RUNNING"
    # the 24-hour timer survived the crash: 12 more hours end the wait
    await funchost_runtime.advance(timedelta(hours=12))
    assert await wf.result(instance, timeout=10) == "timed out"
    # the activity completed before the crash did not run again
    assert [e["step"] for e in journal()] == ["requested", "timed out"]
''',
    )
    result = pytester.runpytest_subprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_daprd_sidecar_is_skipped_with_a_reason_when_absent(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(pytester.path / "empty-bin"))
    write_sample(
        pytester,
        tests=None,
        test_any="""
async def test_publish(funchost_runtime):
    await funchost_runtime.publish("pubsub", "orders", {"id": "o1"})
""",
    )
    pytester.makeini("[pytest]\nasyncio_mode = auto\nfunchost_functions = functions\n")
    result = pytester.runpytest_subprocess("-q", "-rs", "--funchost-sidecar=daprd")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no `daprd` executable on PATH*"])


FAKE_DAPRD = """#!{python}
# A stand-in for daprd: takes daprd's flags and runs the embedded sidecar (real clock).
import argparse, asyncio, json, os, signal, sys, tempfile
from pathlib import Path

from funchost.sidecar import Sidecar, SidecarConfig

with open(os.environ["FAKE_DAPRD_ARGV"], "a") as f:
    f.write(json.dumps(sys.argv[1:]) + "\\n")
p = argparse.ArgumentParser()
for flag in ("--app-id", "--app-protocol", "--log-level"):
    p.add_argument(flag)
for flag in ("--app-port", "--dapr-http-port", "--dapr-grpc-port"):
    p.add_argument(flag, type=int)
p.add_argument("--resources-path", action="append", default=[])
args = p.parse_args()


async def main():
    sidecar = Sidecar(SidecarConfig(
        app_id=args.app_id, app_port=args.app_port, http_port=args.dapr_http_port,
        grpc_port=args.dapr_grpc_port, resources_paths=[Path(r) for r in args.resources_path],
        db_path=Path(tempfile.mkdtemp()) / "daprd.db",
    ))
    await sidecar.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await sidecar.stop()

asyncio.run(main())
"""


@pytest.mark.slow
def test_daprd_mode_runs_the_same_tests_and_skips_clock_tests(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fake `daprd` on PATH (the embedded sidecar behind daprd's flags) stands in for daprd."""
    import json
    import os
    import sys

    bin_dir = pytester.path / "bin"
    bin_dir.mkdir()
    daprd = bin_dir / "daprd"
    daprd.write_text(FAKE_DAPRD.format(python=sys.executable))
    daprd.chmod(0o755)
    argv_log = pytester.path / "daprd-argv.jsonl"
    monkeypatch.setenv("FAKE_DAPRD_ARGV", str(argv_log))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    write_sample(
        pytester,
        tests=None,
        test_daprd="""
from datetime import timedelta

import pytest

pytestmark = pytest.mark.funchost(path="functions")


async def test_invoke(funchost_runtime):
    await funchost_runtime.state().save("order-o3", {"id": "o3", "amount": 1})
    resp = await funchost_runtime.invoke("orders/o3", http_method="GET")
    assert resp.json() == {"id": "o3", "amount": 1}


async def test_needs_the_clock(funchost_runtime):
    await funchost_runtime.advance(timedelta(hours=1))


async def test_needs_the_store(funchost_runtime):
    await funchost_runtime.dead_letters("orders")
""",
    )
    result = pytester.runpytest_subprocess("-q", "-rs", "--funchost-sidecar=daprd")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*advance() needs the embedded sidecar's virtual clock*",
            "*dead_letters() reads the embedded sidecar's store*",
        ]
    )
    argv = json.loads(argv_log.read_text().splitlines()[0])
    assert argv[argv.index("--app-id") + 1] == "app"
    assert str(pytester.path / "bindings") in argv


@pytest.mark.slow
def test_subprocess_mode_serves_every_helper(pytester: pytest.Pytester) -> None:
    write_sample(
        pytester,
        tests=None,
        test_child="""
import pytest

pytestmark = pytest.mark.funchost(path="functions", mode="subprocess")


async def test_helpers_through_the_child_process(funchost_runtime):
    await funchost_runtime.publish("pubsub", "orders", {"id": "bad", "poison": True})
    await funchost_runtime.publish("pubsub", "orders", {"id": "o1", "amount": 2})
    await funchost_runtime.idle()
    assert [d["data"]["id"] for d in await funchost_runtime.dead_letters("orders")] == ["bad"]
    assert [e["data"] for e in await funchost_runtime.outbox("audit")] == [
        {"order": "o1", "amount": 2}
    ]
    reply = await funchost_runtime.send_binding("queue", {"n": 1})
    assert reply.data == {"accepted": 1}
    assert await funchost_runtime.state().get("last-queued") == {"n": 1}
    with pytest.raises(RuntimeError, match="not defined"):
        await funchost_runtime.send_binding("nope", {})
""",
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1)


def test_strict_asyncio_mode_ini_options_and_errors(pytester: pytest.Pytester) -> None:
    """Strict pytest-asyncio mode needs no marker; ini options configure the fixture; a broken
    functions folder fails the test with discovery's file:line message."""
    write_sample(
        pytester,
        tests=None,
        test_strict="""
async def test_configured_by_ini(funchost_runtime):
    await funchost_runtime.state().save("k", [1, 2])
    assert await funchost_runtime.state().get("k") == [1, 2]
""",
    )
    broken = pytester.path / "broken"
    broken.mkdir()
    (broken / "bad.py").write_text(
        "from funchost import cron\n\n@cron('61 * * * *')\ndef f(): ...\n"
    )
    pytester.makepyfile(
        test_broken="""
import pytest

@pytest.mark.funchost(path="broken")
async def test_broken_folder(funchost_runtime):
    pass
"""
    )
    pytester.makeini(
        "[pytest]\nasyncio_mode = strict\nfunchost_functions = functions\n"
        "funchost_resources = bindings\n"
    )
    result = pytester.runpytest_subprocess("-q")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*bad.py:3*"])
