"""Semantic checks of parsed messages: what a UAS answers 400/416/505 before a transaction starts.

RFC 3261 §8.2.2 and §8.2.6, RFC 4475 §3.1.2 and §3.3. Parsing (message.py) only decides whether the
bytes are a SIP message; these functions decide whether a server should accept it.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from .headers import NameAddress, split_list
from .message import Request, Response, _uint
from .uri import SipUri

_SINGLE_VALUED = ("From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Type", "Expires")
_DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
                   r" [0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2} GMT")


def validate_request(request: Request, schemes: Collection[str] = ("sip", "sips", "tel"), *,
                     strict: bool = False) -> tuple[int, str] | None:
    """The (status, reason) a UAS must answer a syntactically parsed but unacceptable request with, or None.

    RFC 3261 §8.2.2 and §8.2.6, RFC 4475 §3.1.2/§3.3: 505 for another SIP version, 416 for a
    Request-URI scheme outside `schemes`, 400 for missing or repeated mandatory headers, a CSeq out
    of range or naming another method, malformed From/To/Via/Contact/Route, bad Max-Forwards or
    Expires. `strict` also refuses what RFC 4475 allows an element to tolerate and this PBX does
    by default: a Date not in RFC 1123 GMT form (§3.1.2.12), Max-Forwards above 255 (§3.1.2.4) and
    a branch of only the magic cookie (§3.2.1).
    """
    if request.version.upper() != "SIP/2.0":
        return 505, "Version Not Supported"
    headers = request.headers
    counts: dict[str, int] = {}
    for name, _ in headers._items:
        counts[name] = counts.get(name, 0) + 1
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if name not in counts:
            return 400, f"Missing {name}"
    for name in _SINGLE_VALUED:
        if counts.get(name, 0) > 1:
            return 400, f"Multiple {name} headers"
    try:
        cseq = request.cseq
    except ValueError:
        return 400, "Bad CSeq"
    if cseq.method != request.method:
        return 400, "CSeq method does not match the request method"
    for name in ("From", "To"):
        values = split_list(headers.get(name) or "")
        if len(values) != 1:
            return 400, f"{'Multiple' if values else 'Empty'} {name} values"
        try:
            if NameAddress.parse(values[0]).wildcard:
                return 400, f"Bad {name}"
        except ValueError:
            return 400, f"Bad {name}"
    call_id = request.call_id
    if not call_id or any(c in call_id for c in " \t,"):
        return 400, "Bad Call-ID"
    try:
        vias = request.vias
    except ValueError:
        return 400, "Bad Via"
    if not vias:
        return 400, "Missing Via"
    try:
        mf, expires = request.max_forwards, request.expires
    except ValueError as err:
        return 400, str(err)[:60]
    try:
        uri = request.uri
    except ValueError:
        return 400, "Bad Request-URI"
    if uri.scheme not in schemes:
        return 416, "Unsupported URI Scheme"
    if isinstance(uri, SipUri) and uri.headers is not None:
        return 400, "Headers in Request-URI"  # RFC 3261 §19.1.1 table, RFC 4475 §3.1.2.11
    problem = _check_name_addresses(request, expires)
    if problem is not None:
        return 400, problem
    if strict:
        date = headers.get("Date")
        if date is not None and _DATE.fullmatch(date) is None:
            return 400, "Bad Date"
        if mf is not None and mf > 255:
            return 400, "Bad Max-Forwards"
        if not vias[0].has_rfc3261_branch and (vias[0].branch or "").startswith("z9hG4bK"):
            return 400, "Bad branch"
    return None


def _check_name_addresses(request: Request, expires: int | None) -> str | None:
    try:
        contacts = request.contacts
    except ValueError:
        return "Bad Contact"
    for contact in contacts:
        if contact.wildcard and (request.method != "REGISTER" or len(contacts) != 1 or expires != 0):
            return "Contact * needs a lone REGISTER Contact and Expires: 0"  # RFC 3261 §10.2.2
        value = contact.params.get("expires")
        if value is not None:
            try:
                _uint(value, "expires", clamp=True)
            except ValueError:
                return "Bad Contact expires"
    for name in ("Route", "Record-Route"):
        try:
            request.name_addresses(name)
        except ValueError:
            return f"Bad {name}"
    return None


def validate_response(response: Response) -> str | None:
    """Why a parsed response must be dropped (RFC 3261 §18.1.2, RFC 4475 §3.1.2.5), or None."""
    headers = response.headers
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        fields = headers.get_fields(name)
        if not fields:
            return f"missing {name}"
        if len(fields) > 1 and name != "Via":
            return f"multiple {name} headers"
    try:
        response.cseq, response.from_, response.to  # noqa: B018
        if not response.vias:
            return "missing Via"
    except ValueError as err:
        return str(err)[:80]
    return None
