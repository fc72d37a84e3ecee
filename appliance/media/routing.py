"""Who hears whom: the pure routing plan of the media engine, recomputed whenever a connection changes.

Each endpoint (a node here, any hashable key) gets a :class:`Route` that says how the audio it is SENT is made:

- `relay_from`: packets received on that node are forwarded to this one unchanged (fast path, no decoding);
- otherwise, when `clocked`, a frame is generated on every 20 ms tick from an override (player, in-band DTMF),
  from the N−1 mix of a conference group, and/or from the sum of the decoded input of `sources`.

`decode` marks the nodes whose received audio must be decoded on each tick because a clocked route, a
recorder or a detector uses it.  Keeping this as data makes the policy testable without sockets.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field

__all__ = ["NodeState", "Route", "plan_routes"]


@dataclass
class NodeState:
    """What the engine knows about one endpoint when planning."""

    bridge: Hashable | None = None   # the other party of a two-party connection
    relayable: bool = False          # the bridge can forward packets (same codec, or a G.711 table swap)
    mixer: Hashable | None = None    # conference this node belongs to
    override: bool = False           # a player or in-band DTMF generator owns the output
    listens_to: Hashable | None = None  # monitor target (listen, and whisper when `whisper`)
    whisper: bool = False
    can_send: bool = True            # the negotiated direction lets us send to the phone
    record: bool = False
    detect: bool = False


@dataclass
class Route:
    """How one endpoint's outgoing audio is produced (see the module docstring)."""

    relay_from: Hashable | None = None
    clocked: bool = False
    group: Hashable | None = None    # conference mixer: output = group total minus own input (N−1)
    sources: tuple[Hashable, ...] = field(default_factory=tuple)
    decode: bool = False


def plan_routes(nodes: dict[Hashable, NodeState]) -> dict[Hashable, Route]:
    """Compute every node's route; unknown keys named by a node (bridge, target) are ignored."""
    whisperers: dict[Hashable, list[Hashable]] = {}
    for key, node in nodes.items():
        if node.listens_to in nodes and node.whisper and node.listens_to != key:
            whisperers.setdefault(node.listens_to, []).append(key)

    routes: dict[Hashable, Route] = {}
    for key, node in nodes.items():
        extra = tuple(whisperers.get(key, ()))
        route = Route()
        if node.mixer is not None:
            route.clocked, route.group, route.sources = True, node.mixer, extra
        elif node.bridge in nodes and nodes[node.bridge].bridge == key:
            if node.relayable and not extra:
                route.relay_from = node.bridge
            else:
                route.clocked, route.sources = True, (node.bridge, *extra)
        elif extra:
            route.clocked, route.sources = True, extra
        routes[key] = route

    # Listeners hear their target's input plus what the target hears (computed above), never themselves.
    for key, node in nodes.items():
        target = node.listens_to
        if target not in nodes or target == key:
            continue
        heard = routes[target]
        sources = [target]
        if heard.relay_from is not None:
            sources.append(heard.relay_from)
        sources.extend(s for s in heard.sources if s != key)
        routes[key] = Route(clocked=True, group=heard.group, sources=tuple(dict.fromkeys(sources)))
        # A listener of a conference member hears the whole conference: group total (every member) is what
        # the target hears plus the target itself, so the target is not added twice.
        if heard.group is not None:
            routes[key].sources = tuple(s for s in routes[key].sources if s != target)
            routes[key].group = heard.group

    for key, node in nodes.items():
        route = routes[key]
        if node.override:
            route.relay_from, route.clocked = None, True
        if not node.can_send:
            route.relay_from, route.clocked, route.group, route.sources = None, False, None, ()

    needed: set[Hashable] = set()
    for key, route in routes.items():
        if route.clocked and not nodes[key].override:
            needed.update(route.sources)
    for key, node in nodes.items():
        # Conference members are always decoded: their input is part of the group total the others hear.
        routes[key].decode = key in needed or node.record or node.detect or node.mixer is not None
    return routes
