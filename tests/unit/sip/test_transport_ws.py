"""SIP over WebSocket (RFC 7118): framing, flows, digest registration and the browser phone's tokens.

A real SipStack with a WS (and WSS) listener on 127.0.0.1 and a free port, driven by the `websockets`
library's own client — an implementation independent of the server side under test.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from appliance.datadir import DataDir
from appliance.sip.digest import DigestAuthenticator
from appliance.sip.dispatcher import Dispatcher
from appliance.sip.location import LocationService
from appliance.sip.message import Request
from appliance.sip.registrar import Registrar
from appliance.sip.stack import SipStack, StackConfig
from appliance.sip.transport_ws import md5_challenges_only
from appliance.sip.transport_ws_auth import FlowCredential, FlowSecrets, WebPhoneTokens
from appliance.sip.uri import SipUri
from tests.sip_client import authorization, parse_message

REALM = "pbx.test"
SECRETS = {"2001": "pw-2001-secret", "2002": "pw-2002-secret"}


class Box:
    """A stack with the registrar behind it, as pbxd wires it (FlowSecrets around the dispatcher)."""

    def __init__(self, stack_config: StackConfig, tokens: WebPhoneTokens) -> None:
        self.location = LocationService()
        stack_config.ws_admit = tokens.admit
        self.stack = SipStack(stack_config, handler=None)  # type: ignore[arg-type]
        self.dispatcher = Dispatcher(self.stack.layer)
        self.secrets = FlowSecrets(SECRETS.get, self.credential_of)
        self.stack.handler = self.secrets.scope(self.dispatcher)
        self.registrar = Registrar(self.location, DigestAuthenticator(REALM, algorithms=("SHA-256", "MD5")),
                                   self.secrets.secret_for)
        self.dispatcher.add_service("REGISTER", self.on_register)

    def credential_of(self, peer: Any) -> Any:
        return self.stack.streams[peer.transport].credential(peer.flow)

    def on_register(self, request: Request, txn: Any, peer: Any) -> None:
        txn.send(self.registrar.handle(request, peer, time.time(), txn.to_tag))

    def port(self, transport: str) -> int:
        return self.stack.local_address(transport)[1]


def run(body: Callable[..., Awaitable[None]], tmp_path: Path | None = None, **config: Any) -> None:
    async def main() -> None:
        tokens = WebPhoneTokens(time.monotonic)
        cfg = StackConfig(host="127.0.0.1", udp_port=None, tcp_port=None, tls_port=None, ws_port=0, **config)
        box = Box(cfg, tokens)
        await box.stack.start()
        try:
            await asyncio.wait_for(body(box, tokens), 20)
        finally:
            await box.stack.close()
    asyncio.run(main())


def register_request(number: str, cseq: int = 1, auth: str | None = None, call_id: str = "reg-1") -> str:
    lines = [
        f"REGISTER sip:{REALM} SIP/2.0",
        "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK56sdasks",
        "Max-Forwards: 69",
        f"To: <sip:{number}@{REALM}>",
        f"From: <sip:{number}@{REALM}>;tag=ab12",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
        "Contact: <sip:qt1b4ocu@df7jal23ls0d.invalid;transport=ws>;+sip.ice;expires=600",
        "Expires: 600",
    ]
    if auth:
        lines.append(f"Authorization: {auth}")
    return "\r\n".join(lines + ["Content-Length: 0", "", ""])


async def register(ws: Any, number: str, password: str) -> Any:
    """REGISTER, answer the first challenge as JsSIP does, return the final response."""
    await ws.send(register_request(number))
    challenge = parse_message(_bytes(await ws.recv()))
    assert challenge.status == 401
    [only] = challenge.header_all("WWW-Authenticate")  # browsers answer MD5 only, picked by position
    assert "algorithm=MD5" in only
    auth = authorization(only, "REGISTER", f"sip:{REALM}", number, password)
    await ws.send(register_request(number, 2, auth))
    return parse_message(_bytes(await ws.recv()))


def _bytes(message: str | bytes) -> bytes:
    return message.encode() if isinstance(message, str) else message


def test_the_handshake_needs_the_sip_subprotocol():
    async def body(box: Box, tokens: WebPhoneTokens) -> None:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{box.port('ws')}/"):
                pass
        assert refused.value.response.status_code == 400
        async with connect(f"ws://127.0.0.1:{box.port('ws')}/", subprotocols=["sip"]) as ws:
            assert ws.subprotocol == "sip"
    run(body)


def test_a_request_from_a_browser_is_answered_over_its_own_connection_whatever_its_via_says():
    async def body(box: Box, tokens: WebPhoneTokens) -> None:
        async with connect(f"ws://127.0.0.1:{box.port('ws')}/", subprotocols=["sip"]) as ws:
            await ws.send("\r\n".join([
                f"OPTIONS sip:{REALM} SIP/2.0",
                "Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKoptions1",
                "To: <sip:2001@pbx.test>", "From: <sip:2001@pbx.test>;tag=1", "Call-ID: opt-1",
                "CSeq: 1 OPTIONS", "Max-Forwards: 70", "Content-Length: 0", "", ""]))
            reply = await ws.recv()
            assert isinstance(reply, str)  # SIP in UTF-8 goes in text frames (RFC 7118 §5.1)
            response = parse_message(reply.encode())
            assert response.status == 200
            assert "df7jal23ls0d.invalid" in response.header("Via") and "received=127.0.0.1" in response.header("Via")
    run(body)


def test_registration_with_digest_binds_the_contact_to_the_flow_and_requests_reach_the_browser_on_it():
    async def body(box: Box, tokens: WebPhoneTokens) -> None:
        async with connect(f"ws://127.0.0.1:{box.port('ws')}/", subprotocols=["sip"]) as ws:
            ok = await register(ws, "2001", SECRETS["2001"])
            assert ok.status == 200 and "transport=ws" in ok.header("Contact")
            [contact] = box.location.lookup("2001", time.time())
            assert contact.peer.transport == "ws" and box.stack.streams["ws"].has_flow(contact.peer.flow)

            # The box calls the browser back: the request travels through the browser's own connection.
            request = Request("OPTIONS", contact.uri)
            for name, value in (("From", f"<sip:pbx@{REALM}>;tag=x1"), ("To", f"<{contact.uri}>"),
                                ("Call-ID", "back-1"), ("CSeq", "1 OPTIONS")):
                request.headers.add(name, value)
            answered: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            box.stack.send_request(request, contact.peer, lambda r, t: answered.done() or answered.set_result(r.status))
            incoming = parse_message(_bytes(await ws.recv()))
            assert incoming.method == "OPTIONS" and "df7jal23ls0d.invalid" in incoming.uri
            via = incoming.header("Via")
            assert via.startswith("SIP/2.0/WS ") and f":{box.port('ws')}" in via
            reply = ["SIP/2.0 200 OK"] + [f"{n}: {v}" for n, v in incoming.headers
                                          if n.lower() in ("via", "from", "to", "call-id", "cseq")]
            await ws.send("\r\n".join(reply + ["Content-Length: 0", "", ""]))
            assert await answered == 200
    run(body)


def test_a_wrong_password_over_websocket_is_refused():
    async def body(box: Box, tokens: WebPhoneTokens) -> None:
        async with connect(f"ws://127.0.0.1:{box.port('ws')}/", subprotocols=["sip"]) as ws:
            assert (await register(ws, "2001", "not-the-secret")).status == 401
            assert box.location.lookup("2001", time.time()) == []
    run(body)


def test_a_request_to_a_browser_whose_connection_closed_fails_at_once():
    async def body(box: Box, tokens: WebPhoneTokens) -> None:
        async with connect(f"ws://127.0.0.1:{box.port('ws')}/", subprotocols=["sip"]) as ws:
            assert (await register(ws, "2001", SECRETS["2001"])).status == 200
        [contact] = box.location.lookup("2001", time.time())
        for _ in range(100):
            if not box.stack.streams["ws"].has_flow(contact.peer.flow):
                break
            await asyncio.sleep(0.01)
        request = Request("OPTIONS", contact.uri)
        for name, value in (("From", f"<sip:pbx@{REALM}>;tag=x1"), ("To", f"<{contact.uri}>"),
                            ("Call-ID", "gone-1"), ("CSeq", "1 OPTIONS")):
            request.headers.add(name, value)
        failed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        box.stack.send_request(request, contact.peer, lambda r, t: failed.done() or failed.set_result(r.status))
        assert await asyncio.wait_for(failed, 2) in (408, 503)
    run(body)


def test_fragmented_and_binary_messages_are_one_sip_message_each_and_keepalives_get_a_pong():
    async def body(box: Box, tokens: WebPhoneTokens) -> None:
        async with connect(f"ws://127.0.0.1:{box.port('ws')}/", subprotocols=["sip"]) as ws:
            text = register_request("2001")
            await ws.send(iter([text[:40], text[40:90], text[90:]]))  # one message in three frames
            assert parse_message(_bytes(await ws.recv())).status == 401
            await ws.send(register_request("2001", 2, call_id="reg-2").encode())  # binary frame
            assert parse_message(_bytes(await ws.recv())).status == 401
            await ws.send("\r\n\r\n")  # SIP.js keep-alive
            assert await ws.recv() == "\r\n"
    run(body)


def test_garbage_is_dropped_and_the_flow_stays_usable():
    async def body(box: Box, tokens: WebPhoneTokens) -> None:
        async with connect(f"ws://127.0.0.1:{box.port('ws')}/", subprotocols=["sip"]) as ws:
            await ws.send("this is not SIP\r\n\r\n")
            await ws.send(register_request("2001"))
            assert parse_message(_bytes(await ws.recv())).status == 401
        assert box.stack.stats.parse_errors == 1
    run(body)


def test_wss_uses_the_box_certificate(tmp_path):
    files = DataDir(tmp_path / "data").ensure_tls_certificate()

    async def body(box: Box, tokens: WebPhoneTokens) -> None:
        context = ssl.create_default_context(cafile=str(files.cert))
        async with connect(f"wss://127.0.0.1:{box.port('wss')}/", subprotocols=["sip"], ssl=context) as ws:
            assert (await register(ws, "2002", SECRETS["2002"])).status == 200
        [contact] = box.location.lookup("2002", time.time())
        assert contact.peer.transport == "wss"
    run(body, wss_port=0, certfile=str(files.cert), keyfile=str(files.key))


# --- the browser phone's tokens ------------------------------------------------------------------------------


def test_a_token_opens_the_connection_and_is_the_extensions_password_on_that_flow_only():
    async def body(box: Box, tokens: WebPhoneTokens) -> None:
        token = tokens.issue("2001")
        url = f"ws://127.0.0.1:{box.port('ws')}/?token={token}"
        async with connect(url, subprotocols=["sip"]) as ws:
            assert (await register(ws, "2001", SECRETS["2001"])).status == 401  # the SIP secret is not it here
        async with connect(url, subprotocols=["sip"]) as ws:
            assert (await register(ws, "2001", token)).status == 200
            [contact] = box.location.lookup("2001", time.time())
            assert box.credential_of(contact.peer) == FlowCredential("2001", token)
            assert (await register(ws, "2002", SECRETS["2002"])).status == 401  # nor another extension's
        async with connect(f"ws://127.0.0.1:{box.port('ws')}/", subprotocols=["sip"]) as ws:
            assert (await register(ws, "2001", token)).status == 401  # a flow without the token
    run(body)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),   # forged signature
    lambda t: "2002" + t[4:],                                        # another extension
    lambda t: "garbage",
])
def test_a_bad_token_is_refused_at_the_handshake(mangle):
    async def body(box: Box, tokens: WebPhoneTokens) -> None:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{box.port('ws')}/?token={mangle(tokens.issue('2001'))}",
                               subprotocols=["sip"]):
                pass
        assert refused.value.response.status_code == 403
    run(body)


def test_tokens_expire():
    now = [1000.0]
    tokens = WebPhoneTokens(lambda: now[0], lifetime=300)
    token = tokens.issue("2001")
    assert tokens.verify(token) == "2001"
    now[0] += 302
    with pytest.raises(ValueError, match="expired"):
        tokens.verify(token)
    with pytest.raises(PermissionError):
        tokens.admit({"token": token})
    assert tokens.admit({}) is None


def test_a_token_flow_of_a_disabled_extension_has_no_password():
    secrets_ = FlowSecrets({"2002": "x"}.get, lambda peer: FlowCredential("2001", "tok"))

    class Peer:
        transport, flow = "wss", 3

    secrets_.peer = Peer()  # type: ignore[assignment]
    assert secrets_.secret_for("2001") is None and secrets_.secret_for("2002") is None
    secrets_.peer = None
    assert secrets_.secret_for("2002") == "x"


def test_browsers_are_offered_md5_alone_and_nothing_else_changes():
    response = (b"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/WSS a.invalid;branch=z9hG4bK1\r\n"
                b"WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256, qop=\"auth\"\r\n"
                b"To: <sip:2001@r>;tag=1\r\n"
                b"WWW-Authenticate: Digest realm=\"r\", nonce=\"n\", algorithm=MD5, qop=\"auth\"\r\n"
                b"Content-Length: 0\r\n\r\n")
    lines = md5_challenges_only(response).split(b"\r\n")
    original = response.split(b"\r\n")
    assert lines == [original[i] for i in (0, 1, 3, 4, 5, 6, 7)]
    sha_only = response.replace(b"algorithm=MD5", b"algorithm=SHA-256")
    assert md5_challenges_only(sha_only) == sha_only  # nothing a browser could answer: left alone
    assert md5_challenges_only(b"SIP/2.0 200 OK\r\n\r\n") == b"SIP/2.0 200 OK\r\n\r\n"


def test_sip_uri_of_a_websocket_peer_says_transport_ws():
    stack = SipStack(StackConfig(host="127.0.0.1"), handler=None)  # type: ignore[arg-type]
    stack.streams["wss"] = type("T", (), {"local": ("127.0.0.1", 8089)})()  # type: ignore[assignment]
    from appliance.sip.transaction import Peer

    uri = stack.contact_uri(Peer("wss", "127.0.0.1", 50000, 7))
    assert isinstance(uri, SipUri) and uri.params.get("transport") == "ws" and uri.port == 8089
