"""Short-lived tokens that let the web portal's browser phone register without ever seeing the SIP secret.

The portal asks pbxd (control socket) for a token for the logged-in user's extension and hands it to the
page. The page opens its WebSocket with `?token=…` and uses the same token as its digest password. pbxd
checks the token at the WebSocket handshake (signature, expiry) and remembers it on the flow; digest
checks of requests that arrive on that flow then use the token as the extension's password, and a
token flow can act only as its own extension. Flows opened without a token (a WebRTC softphone
configured by hand) authenticate with the SIP secret as usual. See D-webrtc-3.

Tokens are `<extension>.<expiry>.<HMAC-SHA256>` under a key made at start-up and kept in memory only:
a restart of pbxd voids them, and the page simply fetches a new one before it reconnects.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .transaction import Peer

TOKEN_LIFETIME = 300.0  # seconds in which a token may open a connection; the flow then lives on its own


@dataclass(frozen=True)
class FlowCredential:
    """What a WebSocket flow proved at its handshake: the extension and the token it may use as password."""

    extension: str
    token: str


class WebPhoneTokens:
    """Issues and checks tokens; `clock` is monotonic seconds (tokens never leave this process's lifetime)."""

    def __init__(self, clock: Callable[[], float], key: bytes | None = None, lifetime: float = TOKEN_LIFETIME):
        self._clock = clock
        self._key = key or secrets.token_bytes(32)
        self.lifetime = lifetime

    def issue(self, extension: str) -> str:
        if not extension or "." in extension:
            raise ValueError(f"cannot issue a token for {extension!r}")
        expires = int(self._clock() + self.lifetime) + 1
        payload = f"{extension}.{expires}"
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str) -> str:
        """The extension the token was issued for; ValueError when it is forged, garbled or expired."""
        payload, _, mac = token.rpartition(".")
        number, dot, expires = payload.rpartition(".")
        if not dot or not number or not expires.isdigit() or len(token) > 200:
            raise ValueError("malformed token")
        if not hmac.compare_digest(self._mac(payload).encode(), mac.encode("utf-8", "replace")):
            raise ValueError("bad token signature")
        if int(expires) < self._clock():
            raise ValueError("token expired")
        return number

    def admit(self, query: dict[str, str]) -> FlowCredential | None:
        """The WebSocket handshake check (`transport_ws.Admit`): a token, when given, must be valid."""
        token = query.get("token")
        if token is None:
            return None
        try:
            return FlowCredential(self.verify(token), token)
        except ValueError as err:
            raise PermissionError(f"web phone token refused: {err}") from err

    def _mac(self, payload: str) -> str:
        digest = hmac.new(self._key, payload.encode("utf-8"), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode("ascii")


class FlowSecrets:
    """`secret_for(user)` that knows which flow the request being authenticated came from.

    The registrar and the request authenticator ask for a user's password without saying where the
    request came from; the stack's handler is wrapped (`scope`) so that the peer of the request being
    dispatched is known while it is handled (dispatch is synchronous on the event loop).
    """

    def __init__(self, secret_for: Callable[[str], str | None], credential_of: Callable[[Peer], Any]):
        self._secret_for = secret_for
        self._credential_of = credential_of
        self.peer: Peer | None = None

    def secret_for(self, user: str) -> str | None:
        peer = self.peer
        credential = self._credential_of(peer) if peer is not None and peer.transport in ("ws", "wss") else None
        if isinstance(credential, FlowCredential):
            if credential.extension != user:
                return None  # a token flow speaks for its own extension only
            return credential.token if self._secret_for(user) is not None else None  # disabled extensions stay out
        return self._secret_for(user)

    def scope(self, handler: Any) -> _PeerScope:
        return _PeerScope(handler, self)


class _PeerScope:
    """The stack's request handler, remembering the current request's peer for `FlowSecrets`."""

    def __init__(self, handler: Any, secrets_: FlowSecrets):
        self.handler = handler
        self._secrets = secrets_

    def on_request(self, request: Any, txn: Any, peer: Peer) -> None:
        self._secrets.peer = peer
        try:
            self.handler.on_request(request, txn, peer)
        finally:
            self._secrets.peer = None

    def on_ack(self, request: Any, peer: Peer) -> None:
        self.handler.on_ack(request, peer)

    def on_server_timeout(self, txn: Any) -> None:
        self.handler.on_server_timeout(txn)
