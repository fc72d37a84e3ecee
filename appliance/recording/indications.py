"""What the parties hear when a call's recording starts or pauses: short tones over the conversation.

Each tone is played by the engine's player on a party's endpoint: the player owns that endpoint's output for
the tone's length only, so the relay towards that phone is interrupted for 200-300 ms and then resumes by
itself (the player's end re-plans the route, D-engine-3); the other direction is untouched by that player.
What a phone sends is never changed, so the tones are not in the recording (it is made of what the phones
send, D-rec-1). An endpoint already playing something (music on hold, ringback) keeps it: a beep would end it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from appliance.media.engine import MediaError
from appliance.media.tones import ToneSpec

log = logging.getLogger(__name__)

__all__ = ["PAUSED", "STARTED", "indicate"]

#: Recording runs (started, continued, or still on when `*1` cannot stop it): one 200 ms beep at 1400 Hz,
#: the frequency of the recording warning tone of ITU-T E.180 (and of the US "beep tone").
STARTED = ToneSpec.parse("!1400/200")
#: Recording is off (paused, or refused for lack of space): two short lower beeps, 100 ms apart.
PAUSED = ToneSpec.parse("!900/100,!0/100,!900/100")


def indicate(endpoints: Iterable[Any], tone: ToneSpec) -> list[Any]:
    """Play `tone` once to each endpoint that is open and not playing anything else; returns the players."""
    players = []
    for endpoint in endpoints:
        if endpoint is None or getattr(endpoint, "closed", False) or endpoint.player is not None:
            continue
        try:
            players.append(endpoint.play(tone))
        except MediaError as err:
            log.warning("endpoint %s: recording tone not played: %s", getattr(endpoint, "local_port", "?"), err)
    return players
