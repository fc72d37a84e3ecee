"""Connection state and route application, with stand-in endpoints (no sockets, no engine)."""

from __future__ import annotations

from appliance.media import g711
from appliance.media.switchboard import Switchboard, relay_map, relayable


class Leg:
    """The endpoint fields the switchboard reads and writes."""

    def __init__(self, name: str, codec: str | None = "PCMU", pt: int | None = 0, te: int | None = 101) -> None:
        self.name = name
        self.codec_name, self.payload_type, self.telephone_event_pt = codec, pt, te
        self.player = self._dtmf_out = self.recorder = None
        self.can_send = True
        self.detect_inband = False
        self._relay = self._relay_map = self._jitter = self._rx_fifo = None
        self._tap = False
        self.talkspurts_ended = 0

    def _end_talkspurt(self) -> None:
        self.talkspurts_ended += 1

    def __repr__(self) -> str:
        return self.name


def board_with(*legs: Leg) -> Switchboard:
    board = Switchboard()
    for leg in legs:
        board.add(leg)
    return board


def test_connect_points_each_leg_relay_at_the_other() -> None:
    a, b = Leg("a"), Leg("b")
    board = board_with(a, b)
    board.replan(board.connect(a, b) | {a, b})
    assert a._relay is b and b._relay is a
    assert a._relay_map is None  # same numbers: bytes go out untouched
    assert not board.clocked and not board.decoded


def test_disconnect_clears_both_relays() -> None:
    a, b = Leg("a"), Leg("b")
    board = board_with(a, b)
    board.replan(board.connect(a, b) | {a, b})
    board.replan(board.detach(a))
    assert a._relay is None and b._relay is None


def test_reconnecting_a_leg_elsewhere_releases_its_old_peer() -> None:
    a, b, c = Leg("a"), Leg("b"), Leg("c")
    board = board_with(a, b, c)
    board.replan(board.connect(a, b) | {a, b})
    board.replan(board.connect(a, c) | {a, c})
    assert b._relay is None and a._relay is c and c._relay is a


def test_replanning_touches_only_the_changed_component() -> None:
    legs = [Leg(f"l{i}") for i in range(6)]
    board = board_with(*legs)
    for x, y in zip(legs[::2], legs[1::2]):
        board.replan(board.connect(x, y) | {x, y})
    assert board.component([legs[0]]) == {legs[0], legs[1]}
    legs[4]._relay = "sentinel"  # not in the component: must stay untouched
    legs[0].can_send = False
    board.replan([legs[0]])
    assert legs[1]._relay is None and legs[0]._relay is legs[1]
    assert legs[4]._relay == "sentinel"


def test_conference_members_are_clocked_and_decoded_and_leave_cleanly() -> None:
    legs = [Leg(n) for n in "abc"]
    board = board_with(*legs)
    for leg in legs:
        board.replan(board.join("m", leg) | {leg})
    assert set(board.clocked) == set(legs) == set(board.decoded)
    assert all(leg._tap for leg in legs)
    board.replan(board.detach(legs[0]))
    assert legs[0] not in board.clocked and legs[0]._tap is False and legs[0].talkspurts_ended == 1
    assert board.groups["m"] == legs[1:]


def test_forgetting_a_target_ends_its_monitoring() -> None:
    a, b, sup = Leg("a"), Leg("b"), Leg("sup")
    board = board_with(a, b, sup)
    board.replan(board.connect(a, b) | {a, b})
    board.replan(board.watch(sup, a, whisper=False) | {sup})
    assert sup in board.clocked and a._tap and b._tap
    board.replan(board.forget(a))
    assert sup not in board.clocked and sup not in board.monitor
    assert b._tap is False


def test_relay_maps_payload_types_and_events_and_swaps_g711_law() -> None:
    mu = Leg("mu", "PCMU", 0, 101)
    a_law = Leg("a", "PCMA", 8, 96)
    assert relayable(mu, a_law)
    mapping = relay_map(mu, a_law)
    assert mapping == {0: (8, g711.ULAW_TO_ALAW.tobytes()), 101: (96, None)}
    no_events = Leg("plain", "PCMU", 0, None)
    assert relay_map(mu, no_events) == {0: (0, None)}  # events are dropped towards a leg without them


def test_g722_and_g711_cannot_be_relayed_but_unset_codecs_can() -> None:
    assert not relayable(Leg("a", "G722", 9), Leg("b", "PCMU", 0))
    assert relayable(Leg("a", None, None), Leg("b", "PCMU", 0))
    assert relay_map(Leg("a", None, None), Leg("b", "PCMU", 0)) is None
