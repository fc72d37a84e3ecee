"""The registrar (RFC 3261 §10.3), sans-I/O: a REGISTER and `now` in, a response out.

Authentication is digest (`DigestAuthenticator`); the authenticated user must own the address of
record in To. Unknown users get exactly the challenge known users get. Several devices may hold
bindings for one extension at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate

from .digest import Credentials, DigestAuthenticator, Verdict
from .headers import NameAddress
from .location import Contact, LocationService
from .message import Request, Response, make_response
from .transaction import Peer
from .uri import SipUri

log = logging.getLogger(__name__)


@dataclass
class RegistrarPolicy:
    min_expires: int = 60
    max_expires: int = 3600
    default_expires: int = 3600


class Registrar:
    def __init__(self, location: LocationService, auth: DigestAuthenticator,
                 secret_for: Callable[[str], str | None], policy: RegistrarPolicy = RegistrarPolicy()):
        self.location = location
        self.auth = auth
        self.secret_for = secret_for
        self.policy = policy

    def handle(self, request: Request, peer: Peer, now: float, to_tag: str) -> Response:
        """Process one REGISTER; `now` is wall-clock epoch seconds, `to_tag` the transaction's To-tag."""
        def reply(status: int, reason: str | None = None, headers: list[tuple[str, str]] | None = None) -> Response:
            return make_response(request, status, reason, to_tag=to_tag, headers=headers or [])

        try:
            to = request.to
            aor_uri = to.sip_uri
        except ValueError:
            return reply(400, "Bad To")
        aor = aor_uri.user or ""

        # Authenticate first, before saying anything about the AOR (§10.3 step 3 comes before step 5).
        authorization = request.headers.get("Authorization")
        secret = self.secret_for(_username_in(authorization) or aor)
        verdict, creds = self.auth.verify(authorization, "REGISTER", secret, now)
        if verdict is not Verdict.OK:
            if verdict is Verdict.FAILED and creds is not None:
                log.info("REGISTER for %r from %s:%s failed authentication", aor, peer.host, peer.port)
            return reply(401, headers=[("WWW-Authenticate", c) for c in
                                       self.auth.challenges(now, stale=verdict is Verdict.STALE)])
        assert creds is not None
        if creds.username != aor:
            return reply(403, "Not your address of record")

        try:
            contacts = request.contacts
            header_expires = request.expires
        except ValueError as err:
            return reply(400, str(err)[:60])
        call_id = request.call_id
        cseq = request.cseq.number

        if not contacts:
            return self._ok(request, aor, now, to_tag)  # a query (§10.2.3)

        if any(c.wildcard for c in contacts):
            if len(contacts) != 1 or header_expires != 0:
                return reply(400, "Wildcard contact needs Expires: 0 and no other contact")
            existing = self.location.current(aor)
            if any(c.call_id == call_id and cseq <= c.cseq for c in existing):
                return reply(500, "Out of order request")
            self.location.replace(aor, [])
            return self._ok(request, aor, now, to_tag)

        updated = self.location.current(aor)
        user_agent = request.headers.get("User-Agent")
        path = tuple(request.headers.get_list("Path"))
        for na in contacts:
            if not isinstance(na.uri, SipUri):
                return reply(400, "Contact is not a SIP URI")
            expires = self._expires_of(na, header_expires)
            if expires is None:
                return reply(400, "Bad expires")
            if 0 < expires < self.policy.min_expires:
                return reply(423, headers=[("Min-Expires", str(self.policy.min_expires))])
            expires = min(expires, self.policy.max_expires)
            instance_id = na.params.get("+sip.instance")
            reg_id_text = na.params.get("reg-id")
            reg_id = int(reg_id_text) if reg_id_text and reg_id_text.isdigit() else None
            existing = next((c for c in updated if c.matches(na.uri, instance_id, reg_id)), None)
            if existing is not None:
                if existing.call_id == call_id and cseq <= existing.cseq:
                    return reply(500, "Out of order request")
                updated.remove(existing)
            if expires == 0:
                continue
            q = _parse_q(na.params.get("q"))
            updated.append(Contact(
                aor=aor, uri=na.uri, expires_at=now + expires, call_id=call_id, cseq=cseq, peer=peer,
                instance_id=instance_id, reg_id=reg_id, q=q, path=path, user_agent=user_agent,
                registered_at=now, params={k: v for k, v in na.params.items() if k not in ("expires", "q")},
            ))
        live = [c for c in updated if c.expires_at > now]
        if len(live) > self.policy_max_contacts:
            live.sort(key=lambda c: c.registered_at)
            live = live[-self.policy_max_contacts:]  # the newest devices win
        self.location.replace(aor, live)
        return self._ok(request, aor, now, to_tag)

    @property
    def policy_max_contacts(self) -> int:
        return self.location.max_contacts

    def _expires_of(self, na: NameAddress, header_expires: int | None) -> int | None:
        value = na.params.get("expires")
        if value is not None:
            value = value.strip()
            if not value.isdigit():
                return None
            return min(int(value), 2**31)
        if header_expires is not None:
            return header_expires
        return self.policy.default_expires

    def _ok(self, request: Request, aor: str, now: float, to_tag: str) -> Response:
        headers = [("Contact", f"<{c.uri}>;expires={c.expires_in(now)}")
                   for c in self.location.lookup(aor, now)]
        headers.append(("Date", formatdate(now, usegmt=True)))
        return make_response(request, 200, to_tag=to_tag, headers=headers)


def _parse_q(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        q = float(value)
    except ValueError:
        return None
    return q if 0.0 <= q <= 1.0 else None


def _username_in(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    try:
        return Credentials.parse(authorization).username
    except ValueError:
        return None
