"""The control socket: JSON lines over a Unix socket; errors are replies, never a dead server."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from appliance.control import (
    MAX_LINE,
    ControlError,
    ControlServer,
    DaemonNotRunning,
    request,
    request_async,
)
from appliance.store import NoSuchExtension


async def _status(params: dict[str, Any]) -> dict[str, Any]:
    return {"registrations": [{"aor": "1001"}], "echo": params}


async def _fails(params: dict[str, Any]) -> dict[str, Any]:
    raise RuntimeError("handler bug")


async def _domain_error(params: dict[str, Any]) -> dict[str, Any]:
    raise NoSuchExtension(params.get("number", "?"))


async def _not_a_dict(params: dict[str, Any]) -> dict[str, Any]:
    return ["oops"]  # type: ignore[return-value]


async def _slow(params: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(params.get("seconds", 10))
    return {}


HANDLERS = {"status": _status, "fails": _fails, "domain": _domain_error, "list": _not_a_dict, "slow": _slow}


def serving(path: Path, scenario: Callable[[ControlServer], Awaitable[None]]) -> None:
    """Run `scenario` while a server with HANDLERS listens on `path`."""

    async def main() -> None:
        async with ControlServer(path, HANDLERS) as server:
            await asyncio.wait_for(scenario(server), 20)

    asyncio.run(main())


async def _exchange(path: Path, *lines: bytes) -> list[dict[str, Any]]:
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(b"".join(lines))
    replies = [json.loads(await reader.readline()) for _ in lines]
    writer.close()
    return replies


@pytest.fixture
def sock(tmp_path: Path) -> Path:
    return tmp_path / "control.sock"


def test_command_with_parameters_gets_an_ok_reply(sock: Path) -> None:
    async def scenario(_: ControlServer) -> None:
        reply = await asyncio.to_thread(request, sock, "status", verbose=True)
        assert reply == {"ok": True, "registrations": [{"aor": "1001"}], "echo": {"verbose": True}}

    serving(sock, scenario)


def test_request_id_is_echoed(sock: Path) -> None:
    async def scenario(_: ControlServer) -> None:
        [reply] = await _exchange(sock, b'{"cmd": "ping", "id": "r-7"}\n')
        assert reply == {"ok": True, "id": "r-7"}

    serving(sock, scenario)


def test_bad_lines_get_error_replies_and_the_connection_keeps_working(sock: Path) -> None:
    async def scenario(_: ControlServer) -> None:
        replies = await _exchange(
            sock,
            b"this is not json\n",
            b"[1, 2]\n",
            b'{"no_cmd": 1}\n',
            b"\xff\xfe\n",
            b'{"cmd": "status"}\n',
        )
        assert [r["ok"] for r in replies] == [False, False, False, False, True]
        assert "not JSON" in replies[0]["error"]
        assert "expected a JSON object" in replies[1]["error"]
        assert 'missing "cmd"' in replies[2]["error"]

    serving(sock, scenario)


def test_unknown_command_names_the_known_ones(sock: Path) -> None:
    async def scenario(_: ControlServer) -> None:
        reply = await request_async(sock, "explode")
        assert reply["ok"] is False
        assert "unknown command 'explode'" in reply["error"]
        assert "status" in reply["error"]

    serving(sock, scenario)


def test_failing_handler_gives_an_error_reply_and_the_server_keeps_serving(sock: Path) -> None:
    async def scenario(_: ControlServer) -> None:
        reply = await request_async(sock, "fails")
        assert reply == {"ok": False, "error": "internal error in 'fails': RuntimeError: handler bug"}
        assert (await request_async(sock, "status"))["ok"] is True

    serving(sock, scenario)


def test_domain_errors_are_reported_with_their_message(sock: Path) -> None:
    async def scenario(_: ControlServer) -> None:
        assert await request_async(sock, "domain", number="4040") == {"ok": False, "error": "no extension 4040"}

    serving(sock, scenario)


def test_handler_returning_a_non_object_is_an_error(sock: Path) -> None:
    async def scenario(_: ControlServer) -> None:
        reply = await request_async(sock, "list")
        assert reply["ok"] is False and "internal error" in reply["error"]

    serving(sock, scenario)


def test_oversized_request_is_refused_and_the_server_survives(sock: Path) -> None:
    async def scenario(_: ControlServer) -> None:
        reader, writer = await asyncio.open_unix_connection(sock)
        writer.write(b'{"cmd": "status", "pad": "' + b"x" * (MAX_LINE + 10) + b'"}\n')
        reply = json.loads(await reader.readline())
        assert reply["ok"] is False and "longer than" in reply["error"]
        writer.close()
        assert (await request_async(sock, "status"))["ok"] is True

    serving(sock, scenario)


def test_a_slow_command_does_not_block_other_clients(sock: Path) -> None:
    async def scenario(_: ControlServer) -> None:
        slow = asyncio.create_task(request_async(sock, "slow", seconds=0.5))
        await asyncio.sleep(0.05)
        assert (await request_async(sock, "status", timeout=0.3))["ok"] is True
        assert (await slow)["ok"] is True

    serving(sock, scenario)


def test_client_times_out_with_a_clear_error(sock: Path) -> None:
    async def scenario(_: ControlServer) -> None:
        with pytest.raises(ControlError, match="did not answer 'slow' within 0.2 s"):
            await asyncio.to_thread(request, sock, "slow", timeout=0.2, seconds=0.5)

    serving(sock, scenario)


def test_socket_is_group_accessible_only(sock: Path) -> None:
    async def scenario(_: ControlServer) -> None:
        mode = os.stat(sock).st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o660

    serving(sock, scenario)


def test_stale_socket_file_is_replaced_at_start_and_removed_at_close(sock: Path) -> None:
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(sock))
    stale.close()  # the file stays behind, as after a crash

    async def scenario(_: ControlServer) -> None:
        assert (await request_async(sock, "ping"))["ok"] is True

    serving(sock, scenario)
    assert not sock.exists()


def test_a_live_socket_is_not_stolen(sock: Path) -> None:
    async def scenario(_: ControlServer) -> None:
        with pytest.raises(ControlError, match="already serves"):
            await ControlServer(sock, {}).start()
        assert (await request_async(sock, "ping"))["ok"] is True

    serving(sock, scenario)


def test_a_regular_file_in_the_way_is_not_deleted(sock: Path) -> None:
    sock.write_text("precious")
    with pytest.raises(ControlError, match="not a socket"):
        asyncio.run(ControlServer(sock, {}).start())
    assert sock.read_text() == "precious"


def test_long_socket_paths_work(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = deep / "control.sock"
    assert len(str(path)) > 108

    async def scenario(_: ControlServer) -> None:
        assert (await asyncio.to_thread(request, path, "status"))["ok"] is True
        assert (await request_async(path, "ping"))["ok"] is True

    serving(path, scenario)


def test_request_raises_daemon_not_running_without_a_listener(sock: Path, tmp_path: Path) -> None:
    with pytest.raises(DaemonNotRunning, match="pbxd is not running"):
        request(sock, "status")
    with pytest.raises(DaemonNotRunning):
        request(tmp_path / "missing-dir" / "control.sock", "status")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(sock))
    dead.close()
    with pytest.raises(DaemonNotRunning):
        request(sock, "status")
    with pytest.raises(DaemonNotRunning):
        asyncio.run(request_async(sock, "status"))


def test_close_ends_open_client_connections(sock: Path) -> None:
    async def main() -> None:
        server = ControlServer(sock, HANDLERS)
        await server.start()
        reader, writer = await asyncio.open_unix_connection(sock)
        writer.write(b'{"cmd": "ping"}\n')
        assert json.loads(await reader.readline())["ok"] is True
        await server.close()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert not sock.exists()
        writer.close()

    asyncio.run(main())


def test_value_error_from_a_handler_is_a_bad_request(sock: Path) -> None:
    async def picky(params: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("hangup needs 'call'")

    async def main() -> None:
        async with ControlServer(sock, {"hangup": picky}):
            assert await request_async(sock, "hangup") == {"ok": False, "error": "bad request: hangup needs 'call'"}

    asyncio.run(main())
