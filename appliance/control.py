"""pbxd's control socket: a Unix socket speaking one JSON object per line in each direction.

Request  {"cmd": "status", ...params}       (an optional "id" is echoed back)
Reply    {"ok": true, ...result}  or  {"ok": false, "error": "what went wrong"}

Used by the CLI (`appliance status`, reload after edits) and the web UI (click-to-call, hang up). A bad
line, an unknown command or a failing handler yields an error reply; the server keeps serving.
The socket is 0660 so that the web UI's group can use it; access control is the file mode.

Handlers get the request without "cmd"/"id" and return a dict merged into the ok reply. They report
refusals by raising an ApplianceError (its message is the reply's error) or ValueError ("bad request: …");
any other exception is logged with its traceback and answered as an internal error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import stat
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from appliance.errors import ApplianceError

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

#: Longest request or reply line; bigger requests are refused and the connection closed.
MAX_LINE = 1 << 20
SOCKET_MODE = 0o660
# sun_path holds 108 bytes with its NUL; longer paths are reached through /proc/self/fd/<dir fd>/.
_SUN_PATH_MAX = 100


class ControlError(ApplianceError):
    """The control socket could not be used (timeout, garbled reply, already served …)."""


class DaemonNotRunning(ControlError):
    """Nobody listens on the control socket."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(f"pbxd is not running (nothing listens on {os.fspath(path)})")
        self.path = Path(path)


class ControlServer:
    """Serves `handlers` (command name -> async function of the request's parameters) on a Unix socket."""

    def __init__(self, path: str | os.PathLike[str], handlers: Mapping[str, Handler]) -> None:
        self.path = Path(path)
        self._handlers = dict(handlers)
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._inode: int | None = None
        self._closing = False

    async def start(self) -> None:
        """Remove a stale socket file, bind, set the mode, start accepting."""
        self._remove_stale_socket()
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with _short_path(self.path) as bind_path:
                sock.bind(bind_path)
                os.chmod(bind_path, SOCKET_MODE)
            sock.setblocking(False)
            self._server = await asyncio.start_unix_server(self._serve, sock=sock, limit=MAX_LINE)
        except BaseException:
            sock.close()
            raise
        self._inode = os.stat(self.path).st_ino
        log.info("control socket listening on %s", self.path)

    async def close(self) -> None:
        """Stop accepting, drop open connections, remove the socket file if it is still ours."""
        if self._server is None:
            return
        self._closing = True  # a connection accepted but not yet served is dropped when it starts
        self._server.close()
        for writer in list(self._writers):
            writer.close()  # the connection's readline sees EOF and its task ends
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=2.0)
            for task in pending:  # a handler still busy: do not let shutdown hang on it
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            if os.stat(self.path).st_ino == self._inode:
                os.unlink(self.path)

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _remove_stale_socket(self) -> None:
        try:
            mode = os.lstat(self.path).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ControlError(f"{self.path} exists and is not a socket; refusing to replace it")
        if _is_listening(self.path):
            raise ControlError(f"another process already serves the control socket {self.path}")
        os.unlink(self.path)
        log.info("removed stale control socket %s", self.path)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            while not self._closing:
                try:
                    line = await reader.readline()
                except ValueError:  # longer than MAX_LINE: cannot find the next request boundary
                    await _send(writer, {"ok": False, "error": f"request longer than {MAX_LINE} bytes"})
                    break
                if not line:
                    break
                if not line.strip():
                    continue
                await _send(writer, await self._dispatch(line))
        except (ConnectionError, asyncio.IncompleteReadError) as err:
            log.debug("control connection dropped: %s", err)
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _dispatch(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            return {"ok": False, "error": f"bad request: not JSON ({err})"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "bad request: expected a JSON object"}
        request_id = request.pop("id", None)
        echo = {} if request_id is None else {"id": request_id}
        cmd = request.pop("cmd", None)
        if not isinstance(cmd, str):
            return {"ok": False, "error": 'bad request: missing "cmd"', **echo}
        handler = self._handlers.get(cmd)
        if handler is None:
            if cmd == "ping":
                return {"ok": True, **echo}
            known = ", ".join(sorted({*self._handlers, "ping"}))
            return {"ok": False, "error": f"unknown command {cmd!r} (known: {known})", **echo}
        try:
            result = await handler(request)
        except ApplianceError as err:
            return {"ok": False, "error": str(err), **echo}
        except ValueError as err:  # handlers reject bad parameters with ValueError, as parsers do
            log.warning("control command %r refused: %s", cmd, err, exc_info=log.isEnabledFor(logging.DEBUG))
            return {"ok": False, "error": f"bad request: {err}", **echo}
        except Exception as err:
            log.exception("control command %r failed", cmd)
            return {"ok": False, "error": f"internal error in {cmd!r}: {type(err).__name__}: {err}", **echo}
        if not isinstance(result, dict):
            log.error("control handler %r returned %r instead of a dict", cmd, type(result).__name__)
            return {"ok": False, "error": f"internal error in {cmd!r}: handler returned no object", **echo}
        return {"ok": True, **result, **echo}


async def _send(writer: asyncio.StreamWriter, reply: dict[str, Any]) -> None:
    try:
        data = json.dumps(reply, separators=(",", ":"), default=_json_default)
    except (TypeError, ValueError) as err:
        log.error("control reply not serialisable: %s", err)
        data = json.dumps({"ok": False, "error": f"internal error: reply not serialisable ({err})"})
    writer.write(data.encode() + b"\n")
    await writer.drain()


def _json_default(value: Any) -> Any:
    # Paths and enums show up in status replies; anything else is a handler bug.
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "value") and isinstance(value.value, (str, int)):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def request(path: str | os.PathLike[str], cmd: str, timeout: float = 5.0, **params: Any) -> dict[str, Any]:
    """Send one command and wait for its reply (synchronous; for the CLI and the web UI).

    Returns the reply as is, {"ok": false, ...} included; raises DaemonNotRunning when nobody listens
    and ControlError on timeout or a garbled reply.
    """
    deadline = time.monotonic() + timeout
    payload = json.dumps({"cmd": cmd, **params}).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            with _short_path(Path(path)) as connect_path:
                sock.connect(connect_path)
        except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as err:
            raise DaemonNotRunning(path) from err
        except socket.timeout as err:
            raise ControlError(f"pbxd did not accept a connection within {timeout} s") from err
        buffer = bytearray()
        try:
            sock.sendall(payload)
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise socket.timeout
                sock.settimeout(remaining)
                chunk = sock.recv(65536)
                if not chunk:
                    raise ControlError(f"pbxd closed the connection without answering {cmd!r}")
                buffer += chunk
                if len(buffer) > MAX_LINE:
                    raise ControlError(f"reply to {cmd!r} is longer than {MAX_LINE} bytes")
        except socket.timeout as err:
            raise ControlError(f"pbxd did not answer {cmd!r} within {timeout} s") from err
        except (BrokenPipeError, ConnectionResetError) as err:
            raise ControlError(f"pbxd dropped the connection during {cmd!r}: {err}") from err
    return _parse_reply(bytes(buffer.split(b"\n", 1)[0]), cmd)


async def request_async(
    path: str | os.PathLike[str], cmd: str, timeout: float = 5.0, **params: Any
) -> dict[str, Any]:
    """Like `request`, for code already running in an event loop (tests, the web UI's async bits)."""
    try:
        with _short_path(Path(path)) as connect_path:
            reader, writer = await asyncio.wait_for(
                asyncio.open_unix_connection(connect_path, limit=MAX_LINE), timeout
            )
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as err:
        raise DaemonNotRunning(path) from err
    try:
        writer.write(json.dumps({"cmd": cmd, **params}).encode() + b"\n")
        line = await asyncio.wait_for(reader.readline(), timeout)
    except asyncio.TimeoutError as err:
        raise ControlError(f"pbxd did not answer {cmd!r} within {timeout} s") from err
    finally:
        writer.close()
    if not line:
        raise ControlError(f"pbxd closed the connection without answering {cmd!r}")
    return _parse_reply(line, cmd)


def _parse_reply(line: bytes, cmd: str) -> dict[str, Any]:
    try:
        reply = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ControlError(f"garbled reply to {cmd!r}: {err}") from err
    if not isinstance(reply, dict) or "ok" not in reply:
        raise ControlError(f"garbled reply to {cmd!r}: {line[:200]!r}")
    return reply


def _is_listening(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            with _short_path(path) as probe_path:
                probe.connect(probe_path)
        except OSError:
            return False
    return True


@contextlib.contextmanager
def _short_path(path: Path) -> Iterator[str]:
    """`path` itself, or an equivalent /proc/self/fd path when it is too long for sun_path."""
    if len(os.fsencode(path)) < _SUN_PATH_MAX:
        yield os.fspath(path)
        return
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)
