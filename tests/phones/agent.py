"""The test phone process: one pjsua2 Endpoint driven by JSON-line commands on stdin.

Run as ``python -m tests.phones.agent --name alice --transports udp,tcp``. Protocol (one JSON object a line):
commands ``{"id": 7, "cmd": "call", "args": {...}}`` on stdin; on stdout replies
``{"event": "reply", "id": 7, "ok": true, "result": {...}}`` and events ``{"event": "call_state", "t": ..., ...}``.
pjsua2 runs with no worker threads of its own for SIP (``threadCnt = 0``, ``mainThreadOnly``): every callback
runs inside ``libHandleEvents`` in this loop, so no Python lock is needed. pjlib prints to the C stdout, so the
JSON channel is a private duplicate of fd 1 and fd 1 itself is pointed at stderr before pjsua2 is loaded.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import select
import signal
import sys
import time
from typing import Any, TextIO

log = logging.getLogger("phone.agent")


def _claim_stdout() -> TextIO:
    """Keep the real stdout for JSON only; route everything else written to fd 1 (pjlib logs) to stderr."""
    json_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return os.fdopen(json_fd, "w", buffering=1, encoding="utf-8")


class Runtime:
    """Owns the endpoint, transports, accounts and calls of one phone, and the JSON output channel."""

    def __init__(self, name: str, out: TextIO) -> None:
        self.name = name
        self.out = out
        self.ep: Any = None
        self.transports: dict[str, tuple[int, int]] = {}
        self.local_acc: Any = None
        self.reg_acc: Any = None
        self.calls: dict[str, Any] = {}
        self.retired: dict[str, float] = {}
        self.ended: set[str] = set()
        self.buddies: dict[str, Any] = {}
        self.timers: list[tuple[float, str, int]] = []
        self.auto_answer: dict[str, Any] = {"code": None, "delay": 0.0, "ring": None}
        self.counter = 0
        self.running = True

    # -- output -------------------------------------------------------------------------------------------
    def emit(self, event: str, **fields: Any) -> None:
        """Write one event line; a closed pipe means the controller is gone, so the phone stops."""
        line = json.dumps({"event": event, "t": round(time.monotonic(), 4), **fields})
        try:
            self.out.write(line + "\n")
            self.out.flush()
        except (BrokenPipeError, ValueError):
            self.running = False

    # -- call table ---------------------------------------------------------------------------------------
    def adopt(self, call: Any) -> str:
        """Give a pjsua2 Call object a stable handle ("c1", …) and keep it referenced."""
        self.counter += 1
        handle = f"c{self.counter}"
        call.handle = handle
        self.calls[handle] = call
        return handle

    def retire(self, handle: str) -> None:
        """Schedule a disconnected call for release; never deleted inside its own callback."""
        self.retired[handle] = time.monotonic() + 1.0
        self.ended.add(handle)

    def reap(self, now: float) -> None:
        for handle, due in list(self.retired.items()):
            if now >= due:
                del self.retired[handle]
                self.calls.pop(handle, None)

    def handle_of_pj_id(self, pj_id: int) -> str:
        for handle, call in self.calls.items():
            if not call.disconnected and call.getId() == pj_id:
                return handle
        return ""

    def call(self, handle: str) -> Any:
        call = self.calls.get(handle)
        if call is None or call.disconnected:
            state = "has ended" if handle in self.ended else "does not exist"
            raise KeyError(f"call {handle!r} {state} (live calls: {sorted(h for h in self.calls if h not in self.ended)})")
        return call

    # -- media links --------------------------------------------------------------------------------------
    def apply_media(self, call: Any) -> None:
        """(Re)connect the tone, player and recorder of a call to its current audio port."""
        links, aud = call.links, call.audio
        for source in (links.tone, links.player, *links.extra.values()):
            if source is not None:
                source.startTransmit(aud)
        if links.recorder is not None:
            aud.startTransmit(links.recorder)

    def release_media(self, call: Any) -> None:
        """Stop everything attached to a call; the recorder is destroyed so its WAV header is final."""
        import pjsua2 as pj

        links = call.links
        for attr in ("tone", "player"):
            source = getattr(links, attr)
            if source is not None:
                if attr == "tone":
                    source.stop()
                setattr(links, attr, None)
        links.extra.clear()
        if links.recorder is not None:
            if call.audio is not None:
                try:
                    call.audio.stopTransmit(links.recorder)
                except pj.Error as err:
                    log.info("stopTransmit to recorder on %s: %s", call.handle, err.info())
            path, links.recorder, links.recorder_path = links.recorder_path, None, ""
            from tests.phones.media_commands import await_wav_final

            self.emit("recording_stopped", call=call.handle, path=path, final=await_wav_final(path))

    def codec_of(self, call: Any, index: int) -> str:
        import pjsua2 as pj

        try:
            info = call.getStreamInfo(index)
        except pj.Error:
            return ""
        return f"{info.codecName}/{info.codecClockRate}"

    # -- incoming calls -----------------------------------------------------------------------------------
    def on_incoming(self, handle: str) -> None:
        from tests.phones import commands

        ring, code, delay = self.auto_answer["ring"], self.auto_answer["code"], self.auto_answer["delay"]
        if ring:
            commands.answer_call(self.calls[handle], ring)
        if code:
            if delay <= 0:
                commands.answer_call(self.calls[handle], code)
            else:
                self.timers.append((time.monotonic() + delay, handle, code))

    def run_timers(self, now: float) -> None:
        from tests.phones import commands

        due = [t for t in self.timers if t[0] <= now]
        self.timers = [t for t in self.timers if t[0] > now]
        for _, handle, code in due:
            call = self.calls.get(handle)
            if call is not None and not call.disconnected:
                commands.answer_call(call, code)


def _read_commands(buffer: bytearray) -> tuple[list[dict[str, Any]], bool]:
    """Read whatever stdin holds without blocking; returns complete command lines and whether stdin closed."""
    ready, _, _ = select.select([0], [], [], 0)
    if not ready:
        return [], False
    chunk = os.read(0, 65536)
    if not chunk:
        return [], True
    buffer.extend(chunk)
    lines = []
    while b"\n" in buffer:
        line, _, rest = bytes(buffer).partition(b"\n")
        buffer[:] = rest
        if line.strip():
            lines.append(json.loads(line))
    return lines, False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True)
    parser.add_argument("--transports", default="udp")
    parser.add_argument("--codecs", default="PCMU,PCMA,G722")
    parser.add_argument("--log-dir", default="")
    parser.add_argument("--log-level", type=int, default=4, help="pjsip level of the log file (5 = everything)")
    parser.add_argument("--tls-cert", default="")
    parser.add_argument("--tls-key", default="")
    args = parser.parse_args(argv)

    out = _claim_stdout()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C on pytest must not kill phones mid-call
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format=f"%(asctime)s {args.name} %(levelname)s %(message)s")

    from tests.phones import commands

    rt = Runtime(args.name, out)
    try:
        commands.start_endpoint(rt, args)
    except Exception as err:  # noqa: BLE001 - report any start failure to the controller, then exit
        log.exception("phone failed to start")
        rt.emit("fatal", error=repr(err))
        return 1
    ports = {kind: port for kind, (_, port) in rt.transports.items()}
    rt.emit("ready", name=args.name, pid=os.getpid(), ports=ports, codecs=commands.enabled_codecs(rt))

    buffer = bytearray()
    while rt.running:
        rt.ep.libHandleEvents(10)
        try:
            lines, closed = _read_commands(buffer)
        except json.JSONDecodeError as err:
            rt.emit("error", where="stdin", error=f"bad JSON command: {err}")
            lines, closed = [], False
        if closed:
            log.info("stdin closed: quitting")
            commands.shutdown(rt)
            break
        for command in lines:
            commands.dispatch(rt, command)
        now = time.monotonic()
        rt.run_timers(now)
        rt.reap(now)
    commands.destroy(rt)
    out.flush()
    os._exit(0)  # skip interpreter teardown: SWIG destructors running after libDestroy can crash


if __name__ == "__main__":
    sys.exit(main())
