"""PbxClient against a real control socket server: replies, refusals and a daemon that is not running."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.control import ControlServer
from appliance.webui.pbx import PbxClient, PbxRefused, PbxUnavailable


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "control.sock"
    loop = asyncio.new_event_loop()

    async def status(params):  # noqa: ANN001, ANN202
        return {"calls": [], "extensions": [{"number": "1001", "status": "idle"}]}

    async def originate(params):  # noqa: ANN001, ANN202
        if params["extension"] == "1003":
            raise LookupError("extension 1003 has no registered device")
        return {"call": 42}

    async def hangup(params):  # noqa: ANN001, ANN202
        return {"hung_up": params["call"] == 42}

    async def reload(params):  # noqa: ANN001, ANN202
        return {"reloaded": True}

    server = ControlServer(path, {"status": status, "originate": originate, "hangup": hangup, "reload": reload})
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(server.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(server.close())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(5)
    yield path
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_status_originate_hangup_reload(socket_path):
    client = PbxClient(socket_path)
    assert client.status()["extensions"][0]["status"] == "idle"
    assert client.originate("1001", "1002") == 42
    assert client.hangup(42) is True and client.hangup(1) is False
    client.reload()


def test_a_refusal_carries_the_reason_without_the_internal_prefix(socket_path):
    with pytest.raises(PbxRefused) as err:
        PbxClient(socket_path).originate("1003", "1002")
    assert str(err.value) == "extension 1003 has no registered device"


def test_no_daemon_is_unavailable_and_reload_stays_quiet(tmp_path):
    client = PbxClient(tmp_path / "nobody.sock")
    with pytest.raises(PbxUnavailable):
        client.status()
    client.reload()
