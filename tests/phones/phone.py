"""The pytest side of a test phone: spawns the agent process and turns its JSON events into blocking waits.

Every wait has a timeout and fails with an AssertionError that shows the phone's recent events and the tail
of its stderr, so a failing integration test says what the phone saw. See ``tests/phones/agent.py`` for the
process and its protocol.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, TypeVar

from tests.phones.call import PhoneCall

REPO_ROOT = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"
T = TypeVar("T")


class Phone:
    """One pjsua2 phone in its own process. Create with ``Phone.start(name)``; always ``close()`` it."""

    def __init__(self, name: str, proc: subprocess.Popen[bytes], log_dir: Path, own_log_dir: bool) -> None:
        self.name = name
        self.proc = proc
        self.log_dir = log_dir
        self._own_log_dir = own_log_dir
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self.ports: dict[str, int] = {}
        self.codecs: list[str] = []
        self._events: list[dict[str, Any]] = []
        self._replies: dict[int, dict[str, Any]] = {}
        self._cond = threading.Condition()
        self._next_id = 0
        self._incoming_seen = 0
        self._reg_mark = 0
        self._calls: dict[str, PhoneCall] = {}
        self._closed = False
        self._reader = threading.Thread(target=self._read_events, name=f"phone-{name}", daemon=True)
        self._reader.start()

    # -- life cycle ---------------------------------------------------------------------------------------
    @classmethod
    def spawn(cls, name: str, transports: Iterable[str] = ("udp",), codecs: Iterable[str] | None = None,
              log_dir: str | Path | None = None, tls_cert: str | Path | None = None,
              tls_key: str | Path | None = None, log_level: int = 4, netns: str | None = None) -> Phone:
        """Start the agent process without waiting for it (see ``wait_ready``); lets many phones boot at once.

        ``netns`` runs the phone inside a network namespace the test created (``ip netns exec``)."""
        own = log_dir is None
        directory = Path(tempfile.mkdtemp(prefix=f"phone-{name}-")) if own else Path(log_dir)  # type: ignore[arg-type]
        directory.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, "-m", "tests.phones.agent", "--name", name,
                "--transports", ",".join(transports), "--log-dir", str(directory), "--log-level", str(log_level)]
        if codecs is not None:
            argv += ["--codecs", ",".join(codecs)]
        if tls_cert:
            argv += ["--tls-cert", str(tls_cert), "--tls-key", str(tls_key or tls_cert)]
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        with open(directory / f"{name}.stderr.log", "wb") as stderr:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                    cwd=REPO_ROOT, env=env)
        return cls(name, proc, directory, own)

    @classmethod
    def start(cls, name: str, transports: Iterable[str] = ("udp",), codecs: Iterable[str] | None = None,
              timeout: float = 15.0, **kwargs: Any) -> Phone:
        """Spawn a phone and wait until its transports are bound (``ready``)."""
        phone = cls.spawn(name, transports, codecs, **kwargs)
        try:
            phone.wait_ready(timeout)
        except BaseException:
            phone.close()
            raise
        return phone

    def wait_ready(self, timeout: float = 15.0) -> Phone:
        ready = self.wait_event("ready", timeout)
        self.ports = {k: int(v) for k, v in ready["ports"].items()}
        self.codecs = list(ready["codecs"])
        return self

    def close(self, unregister: bool = False, timeout: float = 3.0) -> None:
        """Hang up, finalise recordings and stop the process (killed if it does not quit in time)."""
        if self._closed:
            return
        self._closed = True
        if self.proc.poll() is None:
            try:
                self._send({"id": -1, "cmd": "quit", "args": {"unregister": unregister}})
                self.proc.stdin.close()  # type: ignore[union-attr]
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._reader.join(2)
        if self.proc.stdout:
            self.proc.stdout.close()
        if self._own_log_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def __enter__(self) -> Phone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- addresses ----------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        """SIP port of the first transport."""
        return next(iter(self.ports.values()))

    @property
    def pid(self) -> int:
        return self.proc.pid

    def uri(self, transport: str | None = None, user: str | None = None) -> str:
        """A SIP URI that reaches this phone directly, e.g. ``sip:bob@127.0.0.1:40012;transport=tcp``."""
        kind = transport or next(iter(self.ports))
        suffix = "" if kind == "udp" else f";transport={kind}"
        return f"sip:{user or self.name}@{LOOPBACK}:{self.ports[kind]}{suffix}"

    # -- commands -----------------------------------------------------------------------------------------
    def command(self, cmd: str, timeout: float = 5.0, **args: Any) -> dict[str, Any]:
        """Send one command and return its result; an error reply raises AssertionError."""
        with self._cond:
            self._next_id += 1
            cid = self._next_id
        try:
            self._send({"id": cid, "cmd": cmd, "args": args})
        except (BrokenPipeError, OSError) as err:
            raise AssertionError(self._report(f"could not send {cmd!r}: {err}")) from err
        reply = self._wait(lambda: self._replies.pop(cid, None), timeout, f"reply to {cmd} {args}")
        if not reply["ok"]:
            raise AssertionError(self._report(f"command {cmd} {args} failed: {reply['error']}"))
        return dict(reply.get("result") or {})

    def register(self, registrar: str, user: str, password: str = "", realm: str = "*",
                 transport: str = "udp", expires: int = 300, contact_params: str = "",
                 contact_uri_params: str = "", domain: str = "", auth_user: str = "",
                 headers: dict[str, str] | None = None, mwi: bool = False, retry_interval: int = 0,
                 proxy: str = "") -> str:
        """Start registering ``user`` at ``registrar`` ("host:port"); returns the account URI.

        ``proxy`` ("host:port") routes every request of the account through it (outbound proxy), so that
        ``call("sip:200@pbx.test")`` reaches the PBX whatever the URI's host. ``mwi`` subscribes to
        message-summary; ``retry_interval`` 0 means no automatic retry after a failure.
        """
        with self._cond:
            self._reg_mark = len(self._events)
        result = self.command("register", registrar=registrar, user=user, password=password, realm=realm,
                              transport=transport, expires=expires, contact_params=contact_params,
                              contact_uri_params=contact_uri_params, domain=domain, auth_user=auth_user,
                              headers=headers or {}, mwi=mwi, retry_interval=retry_interval, proxy=proxy)
        return str(result["uri"])

    def wait_reg_state(self, timeout: float = 5.0, code: int | None = None) -> dict[str, Any]:
        """Next reg_state event since the last register()/unregister() (optionally with a given code)."""
        mark = self._reg_mark
        return self.wait_event("reg_state", timeout, since=mark,
                               where=lambda e: code is None or e["code"] == code)

    def wait_registered(self, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for a 2xx reg_state with expires > 0; fails at once on a final error."""
        mark = self._reg_mark

        def check() -> dict[str, Any] | None:
            for event in self._events[mark:]:
                if event["event"] != "reg_state":
                    continue
                if 200 <= event["code"] < 300 and event["expires"] > 0:
                    return event
                if event["code"] >= 300:  # pjsua answers challenges itself: a 401/403 here is final
                    raise AssertionError(self._report(f"registration failed: {event['code']} {event['reason']}"))
            return None

        return self._wait(check, timeout, "successful registration")

    def unregister(self) -> None:
        with self._cond:
            self._reg_mark = len(self._events)
        self.command("unregister")

    def wait_unregistered(self, timeout: float = 5.0) -> dict[str, Any]:
        return self.wait_event("reg_state", timeout, since=self._reg_mark,
                               where=lambda e: e["expires"] == 0 or not e["active"])

    def call(self, uri: str, headers: dict[str, str] | None = None, account: str = "") -> PhoneCall:
        """Place a call; from the registered account when there is one, else from the local account."""
        result = self.command("call", uri=uri, headers=headers or {}, account=account)
        return self._call_for(result["call"], "outgoing", None)

    def wait_incoming(self, timeout: float = 5.0) -> PhoneCall:
        """The next incoming call not yet returned by an earlier wait_incoming()."""

        def check() -> dict[str, Any] | None:
            seen = [e for e in self._events if e["event"] == "incoming_call"]
            return seen[self._incoming_seen] if len(seen) > self._incoming_seen else None

        event = self._wait(check, timeout, "an incoming call")
        self._incoming_seen += 1
        return self._call_for(event["call"], "incoming", event)

    def set_auto_answer(self, code: int | None = 200, delay: float = 0.0, ring: int | None = 180) -> None:
        """Answer incoming calls by themselves: ``ring`` at once (None: no 180), ``code`` after ``delay`` s."""
        self.command("auto_answer", code=code, delay=delay, ring=ring)

    def set_codecs(self, codecs: Iterable[str]) -> list[str]:
        """Enable exactly these codecs, first preferred ("PCMU", "PCMA", "G722"); returns pjsua codec ids."""
        self.codecs = list(self.command("set_codecs", codecs=list(codecs))["codecs"])
        return self.codecs

    def subscribe_presence(self, uri: str) -> None:
        self.command("subscribe_presence", uri=uri)

    # -- events -------------------------------------------------------------------------------------------
    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """A copy of the events received so far (all, or those of one kind)."""
        with self._cond:
            return [dict(e) for e in self._events if event is None or e["event"] == event]

    def wait_event(self, event: str, timeout: float = 5.0, since: int = 0,
                   where: Callable[[dict[str, Any]], bool] | None = None, **fields: Any) -> dict[str, Any]:
        """First event of a kind (from index ``since``) whose fields equal ``fields`` and satisfy ``where``."""

        def check() -> dict[str, Any] | None:
            for e in self._events[since:]:
                if e["event"] == event and all(e.get(k) == v for k, v in fields.items()) and \
                        (where is None or where(e)):
                    return e
            return None

        return self._wait(check, timeout, f"event {event} {fields or ''}")

    def stderr_tail(self, lines: int = 30) -> str:
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return "(no stderr file)"
        return "\n".join(text.splitlines()[-lines:])

    # -- internals ----------------------------------------------------------------------------------------
    def _call_for(self, handle: str, direction: str, incoming: dict[str, Any] | None) -> PhoneCall:
        if handle not in self._calls:
            self._calls[handle] = PhoneCall(self, handle, direction, incoming)
        return self._calls[handle]

    def _send(self, message: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()

    def _read_events(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                event = json.loads(raw)
            except json.JSONDecodeError:
                event = {"event": "garbage", "line": raw.decode(errors="replace").rstrip()}
            with self._cond:
                if event.get("event") == "reply":
                    self._replies[event["id"]] = event
                else:
                    self._events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._events.append({"event": "exited", "t": time.monotonic()})
            self._cond.notify_all()

    def _wait(self, check: Callable[[], T | None], timeout: float, what: str) -> T:
        """Poll ``check`` under the lock at every new event until it returns non-None or time runs out."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                result = check()
                if result is not None:
                    return result
                if self._events and self._events[-1]["event"] == "exited":
                    raise AssertionError(self._report(f"phone process exited (code {self.proc.poll()}) "
                                                      f"while waiting for {what}"))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(self._report(f"timed out after {timeout:g}s waiting for {what}"))
                self._cond.wait(remaining)

    def _report(self, headline: str, events: int = 25) -> str:
        recent = "\n".join("  " + _brief(e) for e in self._events[-events:]) or "  (none)"
        return (f"phone {self.name!r}: {headline}\nrecent events:\n{recent}\n"
                f"stderr tail ({self.stderr_path}):\n{self.stderr_tail()}\nSIP log: "
                f"{self.log_dir / (self.name + '.pjsip.log')}")


def _brief(event: dict[str, Any]) -> str:
    shown = {k: v for k, v in event.items() if k not in ("headers", "sdp", "body", "t", "event")}
    return f"{event.get('t', '')} {event['event']} {json.dumps(shown)[:300]}"
