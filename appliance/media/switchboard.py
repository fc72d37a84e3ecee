"""The engine's connection state (bridges, conferences, monitors) and the application of routing plans.

A change re-plans only the connected component it touches — the endpoints linked to the changed ones through
bridges, conferences and monitoring, plus those that were linked just before the change — so connecting one
call costs the same with ten calls up as with two thousand.  No sockets here: endpoints are only read for their
codec and state and written through their hot-path fields (`_relay`, `_relay_map`, `_tap`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any

from appliance.media import g711
from appliance.media.routing import NodeState, Route, plan_routes

__all__ = ["Switchboard", "relay_map", "relayable"]

_U2A = g711.ULAW_TO_ALAW.tobytes()  # 256-byte tables for bytes.translate on relayed G.711 payloads
_A2U = g711.ALAW_TO_ULAW.tobytes()
_G711_SWAP = {("PCMU", "PCMA"): _U2A, ("PCMA", "PCMU"): _A2U}
_NO_ROUTE = Route()


def relayable(a: Any, b: Any) -> bool:
    """Packets can go from one leg to the other without decoding: same codec, or a G.711 µ-law/A-law pair."""
    if a.codec_name is None or b.codec_name is None or a.codec_name == b.codec_name:
        return True
    return (a.codec_name, b.codec_name) in _G711_SWAP


def relay_map(src: Any, dst: Any) -> dict[int, tuple[int, bytes | None]] | None:
    """Payload-type (and G.711 law) mapping for packets relayed from src to dst; None means unchanged bytes."""
    if src.codec_name is None or dst.codec_name is None:
        return None
    table = _G711_SWAP.get((src.codec_name, dst.codec_name))
    if (table is None and src.payload_type == dst.payload_type
            and src.telephone_event_pt == dst.telephone_event_pt):
        return None
    mapping: dict[int, tuple[int, bytes | None]] = {src.payload_type: (dst.payload_type, table)}
    if src.telephone_event_pt is not None and dst.telephone_event_pt is not None:
        # RFC 4733 events follow with their number mapped; a leg without telephone-event gets none (dropped).
        mapping[src.telephone_event_pt] = (dst.telephone_event_pt, None)
    return mapping


class Switchboard:
    """Who is connected to whom, and the current route of every endpoint."""

    def __init__(self) -> None:
        self.bridge: dict[Any, Any] = {}
        self.member_of: dict[Any, Hashable] = {}           # endpoint -> mixer key
        self.groups: dict[Hashable, list[Any]] = {}         # mixer key -> members
        self.monitor: dict[Any, tuple[Any, bool]] = {}      # listener -> (target, whisper)
        self.listeners: dict[Any, set[Any]] = {}            # target -> listeners
        self.routes: dict[Any, Route] = {}
        self.clocked: dict[Any, None] = {}                  # ordered sets
        self.decoded: dict[Any, None] = {}
        # Called with a component before it is re-planned (the engine takes relays back from its workers).
        self.before_replan: Callable[[set[Any]], None] | None = None

    # ------------------------------------------------------------------ edits; each returns who must be re-planned

    def add(self, endpoint: Any) -> None:
        self.routes[endpoint] = _NO_ROUTE

    def connect(self, a: Any, b: Any) -> set[Any]:
        touched = self.detach(a) | self.detach(b)
        self.bridge[a], self.bridge[b] = b, a
        return touched

    def join(self, group: Hashable, endpoint: Any) -> set[Any]:
        touched = self.detach(endpoint)
        self.groups.setdefault(group, []).append(endpoint)
        self.member_of[endpoint] = group
        return touched

    def watch(self, listener: Any, target: Any, whisper: bool) -> set[Any]:
        touched = self.detach(listener)
        self.monitor[listener] = (target, whisper)
        self.listeners.setdefault(target, set()).add(listener)
        return touched | {target}

    def detach(self, endpoint: Any) -> set[Any]:
        """Undo `endpoint`'s bridge, conference membership and monitoring; returns everyone it was linked to."""
        touched = {endpoint}
        peer = self.bridge.pop(endpoint, None)
        if peer is not None:
            self.bridge.pop(peer, None)
            touched.add(peer)
        group = self.member_of.pop(endpoint, None)
        if group is not None:
            self.groups[group].remove(endpoint)
            touched.update(self.groups[group])
        watched = self.monitor.pop(endpoint, None)
        if watched is not None:
            self.listeners[watched[0]].discard(endpoint)
            touched.add(watched[0])
        return touched

    def forget(self, endpoint: Any) -> set[Any]:
        """The endpoint is closing: detach it and stop everyone monitoring it."""
        touched = self.detach(endpoint)
        for listener in list(self.listeners.pop(endpoint, ())):
            self.monitor.pop(listener, None)
            touched.add(listener)
        self.routes.pop(endpoint, None)
        self.clocked.pop(endpoint, None)
        self.decoded.pop(endpoint, None)
        touched.discard(endpoint)
        return touched

    # ------------------------------------------------------------------ planning

    def _neighbours(self, endpoint: Any) -> Iterable[Any]:
        peer = self.bridge.get(endpoint)
        if peer is not None:
            yield peer
        group = self.member_of.get(endpoint)
        if group is not None:
            yield from self.groups[group]
        watched = self.monitor.get(endpoint)
        if watched is not None:
            yield watched[0]
        yield from self.listeners.get(endpoint, ())

    def component(self, endpoints: Iterable[Any]) -> set[Any]:
        """Everything linked, directly or not, to `endpoints`."""
        seen: set[Any] = set()
        stack = [ep for ep in endpoints if ep in self.routes]
        while stack:
            endpoint = stack.pop()
            if endpoint in seen:
                continue
            seen.add(endpoint)
            stack.extend(n for n in self._neighbours(endpoint) if n not in seen and n in self.routes)
        return seen

    def _node(self, endpoint: Any) -> NodeState:
        peer = self.bridge.get(endpoint)
        watched = self.monitor.get(endpoint)
        return NodeState(
            bridge=peer, relayable=peer is not None and relayable(peer, endpoint),
            mixer=self.member_of.get(endpoint),
            override=endpoint.player is not None or endpoint._dtmf_out is not None,
            listens_to=watched[0] if watched else None, whisper=bool(watched and watched[1]),
            can_send=endpoint.can_send, record=endpoint.recorder is not None, detect=endpoint.detect_inband)

    def replan(self, changed: Iterable[Any]) -> None:
        """Re-plan the component(s) of `changed` and push the routes into the endpoints' hot-path fields."""
        members = self.component(changed)
        if not members:
            return
        if self.before_replan is not None:
            self.before_replan(members)
        routes = plan_routes({ep: self._node(ep) for ep in members})
        for endpoint in members:
            endpoint._relay = None
            endpoint._relay_map = None
        for endpoint, route in routes.items():
            source = route.relay_from
            if source is not None:
                source._relay = endpoint
                source._relay_map = relay_map(source, endpoint)
            endpoint._tap = route.decode
            if not route.decode:
                endpoint._jitter = None  # free the buffer: this endpoint's audio is relayed, not decoded
                endpoint._rx_fifo = None
            if self.routes.get(endpoint, _NO_ROUTE).clocked and not route.clocked:
                endpoint._end_talkspurt()
            self.routes[endpoint] = route
            for flag, collection in ((route.clocked, self.clocked), (route.decode, self.decoded)):
                if flag:
                    collection[endpoint] = None
                else:
                    collection.pop(endpoint, None)
