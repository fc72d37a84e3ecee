"""Digest challenges for requests other than REGISTER (INVITE, SUBSCRIBE, MESSAGE …).

Calls and subscriptions from phones are authenticated like registrations, so nobody on the LAN
can ring extensions or watch their state without the SIP password.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from .digest import Credentials, DigestAuthenticator, Verdict
from .message import Request
from .transaction import Peer, ServerTransaction

log = logging.getLogger(__name__)


class RequestAuthenticator:
    def __init__(self, auth: DigestAuthenticator, secret_for: Callable[[str], str | None],
                 wallclock: Callable[[], float]):
        self.auth = auth
        self.secret_for = secret_for
        self.wallclock = wallclock

    def check(self, request: Request, txn: ServerTransaction, peer: Peer, proxy: bool = True) -> str | None:
        """The authenticated user name, or None after answering 401/407 (the caller stops there)."""
        header = "Proxy-Authorization" if proxy else "Authorization"
        value = request.headers.get(header)
        if value is None and proxy:
            value = request.headers.get("Authorization")  # some phones answer a 407 in the wrong header
        username = None
        if value is not None:
            try:
                username = Credentials.parse(value).username
            except ValueError:
                username = None
        now = self.wallclock()
        verdict, creds = self.auth.verify(value, request.method, self.secret_for(username) if username else None,
                                          now, request.body)
        if verdict is Verdict.OK and creds is not None:
            return creds.username
        if verdict is Verdict.FAILED and creds is not None:
            log.info("%s from %s:%s: authentication failed for %r", request.method, peer.host, peer.port,
                     creds.username)
        status, challenge_header = (407, "Proxy-Authenticate") if proxy else (401, "WWW-Authenticate")
        txn.respond(status, headers=[(challenge_header, c)
                                     for c in self.auth.challenges(now, stale=verdict is Verdict.STALE)])
        return None
