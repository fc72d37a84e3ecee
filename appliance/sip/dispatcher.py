"""The transaction user's front desk: sends each request to the service or dialog that owns it.

Initial requests go to the service registered for their method (REGISTER → registrar, INVITE →
calls, SUBSCRIBE → subscriptions). Requests with a To-tag go to the dialog they name, or get 481.
CANCEL goes to the owner of the INVITE transaction it cancels (RFC 3261 §9.2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from .message import Request
from .transaction import Peer, ServerTransaction, TransactionLayer

log = logging.getLogger(__name__)

ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, REFER, INFO, UPDATE, MESSAGE"
SUPPORTED = "replaces, timer, path, outbound"
Service = Callable[[Request, ServerTransaction, Peer], None]


class DialogUser(Protocol):
    """A leg or a subscription: whatever owns a dialog."""

    def on_dialog_request(self, request: Request, txn: ServerTransaction, peer: Peer) -> None: ...

    def on_ack(self, request: Request, peer: Peer) -> None: ...


class CancelTarget(Protocol):
    def on_cancel(self, cancel: Request, txn: ServerTransaction) -> None: ...

    def on_ack_timeout(self, txn: ServerTransaction) -> None: ...


class Dispatcher:
    def __init__(self, layer: TransactionLayer):
        self._layer = layer
        self._services: dict[str, Service] = {}
        self._dialogs: dict[tuple[str, str], DialogUser] = {}

    def add_service(self, method: str, service: Service) -> None:
        self._services[method] = service

    def add_dialog(self, key: tuple[str, str], user: DialogUser) -> None:
        self._dialogs[key] = user

    def remove_dialog(self, key: tuple[str, str], user: DialogUser | None = None) -> None:
        if user is None or self._dialogs.get(key) is user:
            self._dialogs.pop(key, None)

    def dialog(self, key: tuple[str, str]) -> DialogUser | None:
        return self._dialogs.get(key)

    @property
    def dialog_count(self) -> int:
        return len(self._dialogs)

    # --- RequestHandler -------------------------------------------------------------------------
    def on_request(self, request: Request, txn: ServerTransaction, peer: Peer) -> None:
        method = request.method
        if method == "CANCEL":
            invite = self._layer.find_invite(request)
            owner = invite.owner if invite is not None else None
            if owner is None:
                txn.respond(481)
                return
            owner.on_cancel(request, txn)
            return
        to_tag = request.to.tag
        if to_tag:
            user = self._dialogs.get((request.call_id, to_tag))
            if user is None:
                txn.respond(481)
                return
            user.on_dialog_request(request, txn, peer)
            return
        if method == "OPTIONS" and method not in self._services:
            txn.respond(200, headers=[("Allow", ALLOW), ("Accept", "application/sdp"), ("Supported", SUPPORTED)])
            return
        service = self._services.get(method)
        if service is None:
            if method in ALLOW:
                txn.respond(481 if method in ("BYE", "NOTIFY", "INFO", "UPDATE", "PRACK") else 405,
                            headers=[("Allow", ALLOW)])
            else:
                txn.respond(501 if method.isupper() else 405, headers=[("Allow", ALLOW)])
            return
        service(request, txn, peer)

    def on_ack(self, request: Request, peer: Peer) -> None:
        to_tag = request.to.tag
        user = self._dialogs.get((request.call_id, to_tag)) if to_tag else None
        if user is not None:
            user.on_ack(request, peer)

    def on_server_timeout(self, txn: ServerTransaction) -> None:
        owner = txn.owner
        if owner is not None and hasattr(owner, "on_ack_timeout"):
            owner.on_ack_timeout(txn)
