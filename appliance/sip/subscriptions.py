"""The notifier (RFC 6665): BLF through the `dialog` event package (RFC 4235) and MWI (RFC 3842).

Phones subscribe to colleagues' extensions to light their BLF keys and to their own mailbox for the
message lamp. A subscription is a dialog; every change of the watched state sends a NOTIFY with the
full state. At most one NOTIFY per subscription is in flight (RFC 6665 §4.2.2): changes that happen
meanwhile are merged into the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from appliance.calls.states import DialogInfo, ExtensionStates

from .auth import RequestAuthenticator
from .dialog import Dialog, new_call_id, new_tag
from .dispatcher import Dispatcher
from .location import LocationService
from .message import Request, Response
from .stack import SipStack
from .transaction import ClientTransaction, Peer, ServerTransaction

log = logging.getLogger(__name__)

EVENTS = ("dialog", "message-summary")
CONTENT_TYPES = {"dialog": "application/dialog-info+xml", "message-summary": "application/simple-message-summary"}
MIN_EXPIRES = 60
MAX_EXPIRES = 3600
DEFAULT_EXPIRES = 600


class Subscription:
    def __init__(self, server: SubscriptionServer, event: str, resource: str, subscriber: str, dialog: Dialog,
                 expires_at: float):
        self.server = server
        self.event = event
        self.resource = resource
        self.subscriber = subscriber
        self.dialog = dialog
        self.expires_at = expires_at
        self.version = 0
        self.terminated = False
        self._in_flight = False
        self._pending = False
        self._recently_ended: list[DialogInfo] = []

    # --- DialogUser --------------------------------------------------------------------------------
    def on_dialog_request(self, request: Request, txn: ServerTransaction, peer: Peer) -> None:
        if not self.dialog.accept_remote_cseq(request):
            txn.respond(500, "CSeq out of order")
            return
        if request.method != "SUBSCRIBE":
            txn.respond(405, headers=[("Allow", "SUBSCRIBE, NOTIFY")])
            return
        expires = self.server.requested_expires(request, txn)
        if expires is None:
            return
        self.dialog.refresh_target(request)
        now = self.server.wallclock()
        if expires == 0:
            txn.respond(200, headers=[("Expires", "0")])
            self.terminate("timeout")  # RFC 6665 §4.2.1.4: an unsubscribe ends with reason=timeout
            return
        self.expires_at = now + expires
        txn.respond(200, headers=[("Expires", str(expires)), ("Contact", self.dialog.local_contact or "")])
        self.changed()

    def on_ack(self, request: Request, peer: Peer) -> None:
        pass

    # --- notifying -----------------------------------------------------------------------------------
    def changed(self, ended: DialogInfo | None = None) -> None:
        """The watched state changed: send a NOTIFY now, or right after the one in flight."""
        if ended is not None:
            self._recently_ended.append(ended)
        if self.terminated:
            return
        if self._in_flight:
            self._pending = True
            return
        self._send_notify()

    def terminate(self, reason: str | None = "timeout") -> None:
        """Send the final NOTIFY (Subscription-State: terminated) and forget the subscription."""
        if self.terminated:
            return
        self.terminated = True
        self._send_notify(final_reason=reason or "noresource")
        self.server.forget(self)

    def _send_notify(self, final_reason: str | None = None) -> None:
        now = self.server.wallclock()
        if final_reason is not None:
            state = f"terminated;reason={final_reason}"
        else:
            state = f"active;expires={max(0, int(self.expires_at - now))}"
        body = self.server.body_for(self)
        self._recently_ended = []
        self.version += 1
        request = self.dialog.new_request(
            "NOTIFY", body, CONTENT_TYPES[self.event],
            headers=[("Event", self.event), ("Subscription-State", state)],
        )
        self._in_flight = True
        self.server.stack.send_request(request, self.dialog.peer, self._on_notify_response)

    def _on_notify_response(self, response: Response, txn: ClientTransaction) -> None:
        if response.status < 200:
            return
        self._in_flight = False
        if response.status in (404, 405, 408, 410, 415, 481, 489, 501, 503) and not self.terminated:
            log.info("subscription %s of %s to %s ended by NOTIFY response %d", self.event, self.subscriber,
                     self.resource, response.status)
            self.terminated = True
            self.server.forget(self)
            return
        if self._pending and not self.terminated:
            self._pending = False
            self._send_notify()

    @property
    def recently_ended(self) -> list[DialogInfo]:
        return self._recently_ended


class SubscriptionServer:
    def __init__(self, stack: SipStack, dispatcher: Dispatcher, authenticator: RequestAuthenticator,
                 states: ExtensionStates, location: LocationService, find_extension: Callable[[str], object],
                 domain: str, mailbox_counts: Callable[[str], tuple[int, int]],
                 wallclock: Callable[[], float]):
        self.stack = stack
        self.dispatcher = dispatcher
        self.authenticator = authenticator
        self.states = states
        self.location = location
        self.find_extension = find_extension
        self.domain = domain
        self.mailbox_counts = mailbox_counts
        self.wallclock = wallclock
        self._by_resource: dict[tuple[str, str], list[Subscription]] = {}
        states.subscribe(self._on_state_change)
        self._expiry_task = asyncio.ensure_future(self._expire_loop())

    def close(self) -> None:
        self._expiry_task.cancel()

    # --- SUBSCRIBE -------------------------------------------------------------------------------------
    def on_subscribe(self, request: Request, txn: ServerTransaction, peer: Peer) -> None:
        event = (request.headers.get("Event") or "").split(";")[0].strip().lower()
        if event not in EVENTS:
            txn.respond(489, headers=[("Allow-Events", ", ".join(EVENTS))])
            return
        user = self.authenticator.check(request, txn, peer, proxy=False)
        if user is None:
            return
        try:
            resource = request.uri.user or ""  # type: ignore[union-attr]
        except (ValueError, AttributeError):
            txn.respond(400, "Bad Request-URI")
            return
        if self.find_extension(resource) is None:
            txn.respond(404)
            return
        if event == "message-summary" and resource != user:
            txn.respond(403, "Not your mailbox")
            return
        expires = self.requested_expires(request, txn)
        if expires is None:
            return
        contact = f"<{self.stack.contact_uri(peer)}>"
        dialog = Dialog.as_uas(request, txn.to_tag, peer, contact)
        if expires == 0:
            # A fetch (RFC 6665 §4.4.3): one NOTIFY with the state, then terminated.
            txn.respond(200, headers=[("Expires", "0"), ("Contact", contact)])
            sub = Subscription(self, event, resource, user, dialog, self.wallclock())
            self.dispatcher.add_dialog(dialog.key, sub)
            sub.terminate("timeout")
            return
        sub = Subscription(self, event, resource, user, dialog, self.wallclock() + expires)
        self.dispatcher.add_dialog(dialog.key, sub)
        self._by_resource.setdefault((event, resource), []).append(sub)
        txn.respond(200, headers=[("Expires", str(expires)), ("Contact", contact)])
        sub.changed()

    def requested_expires(self, request: Request, txn: ServerTransaction) -> int | None:
        """The granted duration, or None after answering 400/423."""
        try:
            expires = request.expires
        except ValueError:
            txn.respond(400, "Bad Expires")
            return None
        if expires is None:
            expires = DEFAULT_EXPIRES
        if 0 < expires < MIN_EXPIRES:
            txn.respond(423, headers=[("Min-Expires", str(MIN_EXPIRES))])
            return None
        return min(expires, MAX_EXPIRES)

    def forget(self, sub: Subscription) -> None:
        self.dispatcher.remove_dialog(sub.dialog.key, sub)
        subs = self._by_resource.get((sub.event, sub.resource))
        if subs and sub in subs:
            subs.remove(sub)
            if not subs:
                del self._by_resource[(sub.event, sub.resource)]

    # --- state changes ---------------------------------------------------------------------------------
    def _on_state_change(self, extension: str, ended: DialogInfo | None) -> None:
        for sub in list(self._by_resource.get(("dialog", extension), ())):
            sub.changed(ended)

    def mailbox_changed(self, extension: str) -> None:
        """Voicemail calls this whenever the counts of a mailbox change.

        Subscribed devices get a NOTIFY in their subscription; every other registered device of the
        extension gets an unsolicited one (what most desk phones expect, RFC 3842 §3 allows it).
        """
        subs = list(self._by_resource.get(("message-summary", extension), ()))
        for sub in subs:
            sub.changed()
        subscribed = {(s.dialog.peer.host, s.dialog.peer.port) for s in subs}
        for contact in self.location.lookup(extension, self.wallclock()):
            if (contact.peer.host, contact.peer.port) not in subscribed:
                self._unsolicited_mwi(extension, contact)

    def _unsolicited_mwi(self, extension: str, contact: Any) -> None:
        new, old = self.mailbox_counts(extension)
        account = f"sip:{extension}@{self.domain}"
        request = Request("NOTIFY", contact.uri)
        h = request.headers
        h.add("From", f"<{account}>;tag={new_tag()}")
        h.add("To", f"<{account}>")
        h.add("Call-ID", new_call_id(self.domain))
        h.add("CSeq", "1 NOTIFY")
        h.add("Contact", f"<{self.stack.contact_uri(contact.peer)}>")
        h.add("Event", "message-summary")
        h.add("Subscription-State", "active")
        h.add("Content-Type", CONTENT_TYPES["message-summary"])
        request.body = message_summary(account, new, old)
        self.stack.send_request(request, contact.peer, lambda response, txn: None)

    def subscriptions(self) -> list[Subscription]:
        return [s for subs in self._by_resource.values() for s in subs]

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = self.wallclock()
            for sub in self.subscriptions():
                if sub.expires_at <= now:
                    sub.terminate("timeout")

    # --- bodies ------------------------------------------------------------------------------------------
    def body_for(self, sub: Subscription) -> bytes:
        if sub.event == "dialog":
            return dialog_info_xml(f"sip:{sub.resource}@{self.domain}", sub.version,
                                   self.states.dialogs(sub.resource) + sub.recently_ended)
        new, old = self.mailbox_counts(sub.resource)
        return message_summary(f"sip:{sub.resource}@{self.domain}", new, old)


def dialog_info_xml(entity: str, version: int, dialogs: list[DialogInfo]) -> bytes:
    """A full-state dialog-info document (RFC 4235 §4)."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="{version}" state="full" '
             f'entity={quoteattr(entity)}>']
    for d in dialogs:
        attrs = f"id={quoteattr(d.id)} call-id={quoteattr(d.call_id)}"
        if d.local_tag:
            attrs += f" local-tag={quoteattr(d.local_tag)}"
        if d.remote_tag:
            attrs += f" remote-tag={quoteattr(d.remote_tag)}"
        attrs += f" direction={quoteattr(d.direction)}"
        display = f" display={quoteattr(d.remote_display)}" if d.remote_display else ""
        parts.append(
            f"<dialog {attrs}><state>{escape(d.state)}</state>"
            f"<local><identity>{escape(d.local_identity)}</identity><target uri={quoteattr(d.local_identity)}/></local>"
            f"<remote><identity{display}>{escape(d.remote_identity)}</identity>"
            f"<target uri={quoteattr(d.remote_identity)}/></remote></dialog>"
        )
    parts.append("</dialog-info>")
    return "\r\n".join(parts).encode()


def message_summary(account: str, new: int, old: int) -> bytes:
    """An RFC 3842 message-summary body."""
    return (f"Messages-Waiting: {'yes' if new else 'no'}\r\n"
            f"Message-Account: {account}\r\n"
            f"Voice-Message: {new}/{old} (0/0)\r\n").encode()
