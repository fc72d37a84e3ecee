"""SIP dialogs (RFC 3261 §12): the state shared by the requests of one call leg or subscription.

Sans-I/O: a Dialog builds in-dialog requests and checks incoming ones; sending is the caller's job.
Requests inside a dialog go to `peer` (where the dialog's first message came from or went to),
not to the Contact host, because phones behind NAT advertise addresses nobody can reach.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from .headers import NameAddress
from .message import Request, Response
from .transaction import Peer
from .uri import SipUri


def new_tag() -> str:
    return secrets.token_hex(6)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(12)}@{host}"


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str | None
    local: NameAddress  # our From (as UAC) / To (as UAS), without tag
    remote: NameAddress  # the other side's, without tag
    remote_target: SipUri
    peer: Peer
    local_seq: int = field(default_factory=lambda: secrets.randbelow(2**20) + 1)
    remote_seq: int | None = None
    route_set: list[str] = field(default_factory=list)
    local_contact: str | None = None  # our Contact header value for target-refresh requests
    confirmed: bool = False

    @property
    def key(self) -> tuple[str, str]:
        """What identifies this dialog on arrival of a request: Call-ID and our tag (in the request's To)."""
        return self.call_id, self.local_tag

    @classmethod
    def as_uas(cls, request: Request, local_tag: str, peer: Peer, local_contact: str | None = None) -> Dialog:
        """The dialog a UAS creates by answering `request` with `local_tag` in To (§12.1.1)."""
        remote_target = _contact_target(request.contacts, fallback=request.from_.uri)
        remote = _without_tag(request.from_)
        local = _without_tag(request.to)
        return cls(
            call_id=request.call_id, local_tag=local_tag, remote_tag=request.from_.tag,
            local=local, remote=remote, remote_target=remote_target, peer=peer,
            remote_seq=request.cseq.number, route_set=list(request.headers.get_list("Record-Route")),
            local_contact=local_contact,
        )

    @classmethod
    def as_uac(cls, request: Request, response: Response, peer: Peer) -> Dialog:
        """The dialog a UAC learns from a response with a To-tag (§12.1.2)."""
        remote_target = _contact_target(response.contacts, fallback=request.uri)
        return cls(
            call_id=request.call_id, local_tag=request.from_.tag or "", remote_tag=response.to.tag,
            local=_without_tag(request.from_), remote=_without_tag(request.to), remote_target=remote_target,
            peer=peer, local_seq=request.cseq.number,
            route_set=list(reversed(response.headers.get_list("Record-Route"))),
            local_contact=request.headers.get("Contact"),
        )

    def update_from_response(self, response: Response) -> None:
        """Refresh the remote target from a 2xx/1xx Contact (target refresh, §12.2.1.2).

        Until the dialog is confirmed, a 2xx (§13.2.2.4) or another fork's response also replaces the
        route set; once confirmed, the route set never changes (§12.2.1.2).
        """
        contacts = response.contacts
        if contacts and isinstance(contacts[0].uri, SipUri):
            self.remote_target = contacts[0].uri
        new_tag = response.to.tag is not None and response.to.tag != self.remote_tag
        if not self.confirmed and (200 <= response.status < 300 or new_tag):
            self.route_set = list(reversed(response.headers.get_list("Record-Route")))
        if response.to.tag:
            self.remote_tag = response.to.tag

    def new_request(self, method: str, body: bytes = b"", content_type: str | None = None,
                    headers: list[tuple[str, str]] | None = None, cseq: int | None = None) -> Request:
        """Build an in-dialog request (§12.2.1.1). ACK and CANCEL reuse the INVITE's CSeq via `cseq`."""
        if cseq is None:
            self.local_seq += 1
            cseq = self.local_seq
        request = Request(method, self._request_uri())
        h = request.headers
        for route in self._routes():
            h.add("Route", route)
        h.add("From", f"{self.local};tag={self.local_tag}")
        to = f"{self.remote};tag={self.remote_tag}" if self.remote_tag else str(self.remote)
        h.add("To", to)
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{cseq} {method}")
        if self.local_contact and method in ("INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"):
            h.add("Contact", self.local_contact)
        for name, value in headers or ():
            h.add(name, value)
        if body:
            h.add("Content-Type", content_type or "application/sdp")
        request.body = body
        return request

    def _request_uri(self) -> str:
        # Strict routing (first route without ;lr) is from RFC 2543; every element we meet does loose routing.
        return str(self.remote_target)

    def _routes(self) -> list[str]:
        return self.route_set

    def accept_remote_cseq(self, request: Request) -> bool:
        """§12.2.2: requests must come with increasing CSeq; ACK/CANCEL carry the INVITE's."""
        number = request.cseq.number
        if request.method in ("ACK", "CANCEL"):
            return True
        if self.remote_seq is not None and number <= self.remote_seq:
            return False
        self.remote_seq = number
        return True

    def refresh_target(self, request: Request) -> None:
        """A target-refresh request (re-INVITE, UPDATE) may change the remote target (§12.2.2)."""
        contacts = request.contacts
        if contacts and isinstance(contacts[0].uri, SipUri):
            self.remote_target = contacts[0].uri


def _without_tag(na: NameAddress) -> NameAddress:
    params = {k: v for k, v in na.params.items() if k != "tag"}
    return NameAddress(na.uri, na.display_name, params)


def _contact_target(contacts: list[NameAddress], fallback: object) -> SipUri:
    for contact in contacts:
        if isinstance(contact.uri, SipUri):
            return contact.uri
    if isinstance(fallback, SipUri):
        return fallback
    raise ValueError("no SIP Contact to use as the remote target")
