"""Who hears whom: the routing plan and the N−1 mixing, without sockets."""

from __future__ import annotations

import numpy as np

from appliance.media.mixer import FRAME_SAMPLES, mix_outputs
from appliance.media.routing import NodeState, Route, plan_routes


def bridge(a: str, b: str, relayable: bool = True, **extra: NodeState) -> dict:
    nodes = {a: NodeState(bridge=b, relayable=relayable), b: NodeState(bridge=a, relayable=relayable)}
    nodes.update(extra)
    return nodes


def test_same_codec_bridge_relays_both_ways_without_decoding() -> None:
    routes = plan_routes(bridge("a", "b"))
    assert routes["a"] == Route(relay_from="b")
    assert routes["b"] == Route(relay_from="a")


def test_different_codecs_are_transcoded_on_the_clock() -> None:
    routes = plan_routes(bridge("a", "b", relayable=False))
    assert routes["a"] == Route(clocked=True, sources=("b",), decode=True)
    assert routes["b"] == Route(clocked=True, sources=("a",), decode=True)


def test_a_player_replaces_the_relay_towards_its_endpoint_only() -> None:
    nodes = bridge("a", "b")
    nodes["a"].override = True
    routes = plan_routes(nodes)
    assert routes["a"].clocked and routes["a"].relay_from is None
    assert routes["b"].relay_from == "a"
    assert not routes["b"].decode  # the player does not need b's audio decoded


def test_recording_taps_a_relayed_endpoint_without_breaking_the_relay() -> None:
    nodes = bridge("a", "b")
    nodes["a"].record = True
    routes = plan_routes(nodes)
    assert routes["b"].relay_from == "a" and routes["a"].decode and not routes["b"].decode


def test_an_endpoint_that_cannot_send_gets_nothing() -> None:
    nodes = bridge("a", "b")
    nodes["a"].can_send = False
    routes = plan_routes(nodes)
    assert routes["a"] == Route()
    assert routes["b"].relay_from == "a"


def test_conference_members_are_clocked_in_one_group_and_decoded() -> None:
    nodes = {k: NodeState(mixer="m") for k in "abc"}
    routes = plan_routes(nodes)
    assert all(r.clocked and r.group == "m" and r.decode and r.sources == () for r in routes.values())


def test_listener_hears_both_sides_and_the_relay_continues() -> None:
    nodes = bridge("a", "b", sup=NodeState(listens_to="a"))
    routes = plan_routes(nodes)
    assert routes["sup"] == Route(clocked=True, sources=("a", "b"), decode=False)
    assert routes["a"].relay_from == "b" and routes["b"].relay_from == "a"
    assert routes["a"].decode and routes["b"].decode


def test_whisper_turns_the_targets_relay_into_a_mix() -> None:
    nodes = bridge("a", "b", sup=NodeState(listens_to="a", whisper=True))
    routes = plan_routes(nodes)
    assert routes["a"] == Route(clocked=True, sources=("b", "sup"), decode=True)
    assert routes["b"].relay_from == "a"
    assert routes["sup"].sources == ("a", "b")  # the supervisor does not hear itself
    assert routes["sup"].decode


def test_listener_of_a_conference_member_hears_the_whole_conference() -> None:
    nodes = {k: NodeState(mixer="m") for k in "abc"}
    nodes["sup"] = NodeState(listens_to="a")
    routes = plan_routes(nodes)
    assert routes["sup"].group == "m" and routes["sup"].sources == ()


def frame(value: int) -> np.ndarray:
    return np.full(FRAME_SAMPLES, value, dtype=np.int16)


def test_n_minus_1_mix_gives_each_member_the_others_but_not_itself() -> None:
    nodes = {k: NodeState(mixer="m") for k in "abc"}
    routes = plan_routes(nodes)
    inputs = {"a": frame(100), "b": frame(20), "c": frame(3)}
    out = mix_outputs(inputs, routes, {"m": ["a", "b", "c"]})
    assert {k: int(v[0]) for k, v in out.items()} == {"a": 23, "b": 103, "c": 120}


def test_silent_member_contributes_nothing_and_still_hears_the_others() -> None:
    nodes = {k: NodeState(mixer="m") for k in "abc"}
    out = mix_outputs({"a": frame(100)}, plan_routes(nodes), {"m": ["a", "b", "c"]})
    assert {k: int(v[0]) for k, v in out.items()} == {"a": 0, "b": 100, "c": 100}


def test_mix_clips_to_int16_instead_of_wrapping() -> None:
    nodes = {k: NodeState(mixer="m") for k in "abc"}
    out = mix_outputs({"a": frame(30000), "b": frame(30000), "c": frame(-30000)}, plan_routes(nodes),
                      {"m": ["a", "b", "c"]})
    assert int(out["c"][0]) == 32767 and int(out["a"][0]) == 0


def test_transcoded_bridge_passes_the_peer_frame_through() -> None:
    routes = plan_routes(bridge("a", "b", relayable=False))
    b_frame = frame(7)
    out = mix_outputs({"b": b_frame}, routes, {})
    assert out["a"] is b_frame
    assert int(out["b"][0]) == 0  # nothing from a this tick: silence
