"""Feature codes: the star codes users dial (`*74` do not disturb, `**11` announce the WAN address …).

The code set is configurable. Three profiles follow the vendors users know (CooVox, the default; 3CX;
PortSIP) and each code can be overridden by a setting `feature.<name>`. A configuration is refused
when two codes collide or when a code can never be reached because an argument-taking code swallows
it (e.g. `*7` + number would make `*74` mean "forward to 4"). Exact codes win over argument codes, so
`**11` (announce) and `**` + extension (directed pickup) can coexist as long as no extension is 11.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from appliance.errors import ApplianceError


class FeatureCodeConflict(ApplianceError):
    """The feature-code configuration has collisions or unreachable codes."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Feature:
    name: str
    description: str
    takes_argument: bool = False  # the code is followed by digits (a number, an extension …)
    in_call: bool = False  # dialled as DTMF during a call, not as a number


# What the box can do, whatever the code. Descriptions are what the portal's feature-code page shows.
FEATURES: dict[str, Feature] = {f.name: f for f in [
    Feature("voicemail_main", "Voicemail main menu (any mailbox with its PIN)"),
    Feature("voicemail_own", "Listen to your own voicemail"),
    Feature("voicemail_leave", "Leave a voicemail directly in a mailbox", takes_argument=True),
    Feature("voicemail_shared", "Listen to a shared mailbox", takes_argument=True),
    Feature("pickup_group", "Pick up a call ringing in your group"),
    Feature("pickup_directed", "Pick up a call ringing at an extension", takes_argument=True),
    Feature("park", "Park the call (transfer to this code)"),
    Feature("dnd_on", "Do not disturb: on"),
    Feature("dnd_off", "Do not disturb: off"),
    Feature("forward_all_on", "Forward all calls to a number", takes_argument=True),
    Feature("forward_all_off", "Cancel forwarding of all calls"),
    Feature("forward_busy_on", "Forward when busy to a number", takes_argument=True),
    Feature("forward_busy_off", "Cancel forwarding when busy"),
    Feature("forward_noanswer_on", "Forward when not answered to a number", takes_argument=True),
    Feature("forward_noanswer_off", "Cancel forwarding when not answered"),
    Feature("blacklist_add", "Add a number to your blacklist", takes_argument=True),
    Feature("blacklist_add_last", "Add the last caller to your blacklist"),
    Feature("blacklist_remove", "Remove a number from your blacklist", takes_argument=True),
    Feature("monitor_listen", "Listen to a call (where allowed)", takes_argument=True),
    Feature("monitor_whisper", "Whisper to an extension in a call (where allowed)", takes_argument=True),
    Feature("monitor_barge", "Join a call (where allowed)", takes_argument=True),
    Feature("queue_login", "Log in to your queues"),
    Feature("queue_logout", "Log out of your queues"),
    Feature("queue_pause", "Pause queue calls"),
    Feature("queue_unpause", "Resume queue calls"),
    Feature("wakeup_menu", "Wake-up call menu"),
    Feature("wakeup_book", "Book a wake-up call: MMDDHHMM", takes_argument=True),
    Feature("wakeup_cancel", "Cancel all wake-up calls"),
    Feature("announce_wan", "Say the box's WAN IP address"),
    Feature("announce_lan", "Say the box's LAN IP address"),
    Feature("announce_extension", "Say your own extension number"),
    Feature("intercom", "Intercom: two-way, auto-answered", takes_argument=True),
    Feature("paging", "Paging: one-way announcement", takes_argument=True),
    Feature("presence_available", "Set your status to Available"),
    Feature("presence_away", "Set your status to Away"),
    Feature("transfer_blind", "Blind transfer during a call", takes_argument=True, in_call=True),
    Feature("transfer_attended", "Attended transfer during a call", takes_argument=True, in_call=True),
    Feature("record_toggle", "Start or stop recording the call", in_call=True),
    Feature("conference_from_call", "Turn the call into a conference", in_call=True),
]}

COOVOX = {
    "voicemail_main": "*60", "voicemail_own": "*61", "voicemail_leave": "*4", "voicemail_shared": "*56",
    "pickup_group": "*8", "pickup_directed": "**", "park": "*4",
    "dnd_on": "*74", "dnd_off": "*074",
    "forward_all_on": "*71", "forward_all_off": "*071", "forward_busy_on": "*72", "forward_busy_off": "*072",
    "forward_noanswer_on": "*73", "forward_noanswer_off": "*073",
    "blacklist_add": "*75", "blacklist_add_last": "*76", "blacklist_remove": "*075",
    "monitor_listen": "*90", "monitor_whisper": "*91", "monitor_barge": "*92",
    "queue_login": "*62", "queue_logout": "*062", "queue_pause": "*95", "queue_unpause": "*095",
    "wakeup_menu": "*55", "wakeup_book": "*55*", "wakeup_cancel": "*055",
    "announce_wan": "**11", "announce_lan": "**12", "announce_extension": "**13",
    "intercom": "*50", "paging": "*51",
    "transfer_blind": "#", "transfer_attended": "*2", "record_toggle": "*1", "conference_from_call": "*0",
}
THREECX = {
    **COOVOX,
    "voicemail_main": "999", "voicemail_own": "999",
    "presence_available": "*60", "presence_away": "*61",
    "pickup_group": "*20*", "pickup_directed": "*20*", "park": "*00", "intercom": "*9",
    # 3CX's intercom *9 would swallow CooVox's *90/*91/*92 monitoring codes.
    "monitor_listen": "*30", "monitor_whisper": "*31", "monitor_barge": "*32",
}
del THREECX["voicemail_own"]
PORTSIP = {**COOVOX, "park": "*68", "pickup_group": "*88"}
PROFILES: dict[str, dict[str, str]] = {"coovox": COOVOX, "3cx": THREECX, "portsip": PORTSIP}


@dataclass(frozen=True)
class Match:
    feature: Feature
    code: str
    argument: str = ""


class FeatureCodes:
    """The code set in force: profile defaults overlaid with per-feature settings."""

    def __init__(self, profile: str = "coovox", overrides: Mapping[str, str] | None = None):
        if profile not in PROFILES:
            raise FeatureCodeConflict([f"unknown feature-code profile {profile!r} (known: {', '.join(PROFILES)})"])
        codes = dict(PROFILES[profile])
        for name, code in (overrides or {}).items():
            if name not in FEATURES:
                raise FeatureCodeConflict([f"unknown feature {name!r}"])
            if code:
                codes[name] = code
            else:
                codes.pop(name, None)  # an empty override switches the feature's code off
        self.profile = profile
        self.codes = codes
        self._exact = {code: name for name, code in codes.items() if not FEATURES[name].takes_argument
                       and not FEATURES[name].in_call}
        self._prefixes = sorted(((code, name) for name, code in codes.items() if FEATURES[name].takes_argument
                                 and not FEATURES[name].in_call), key=lambda item: -len(item[0]))

    def match(self, dialled: str) -> Match | None:
        """The feature a dialled string invokes (exact codes first, then the longest argument prefix)."""
        name = self._exact.get(dialled)
        if name is not None:
            return Match(FEATURES[name], dialled)
        for code, name in self._prefixes:
            if dialled.startswith(code) and len(dialled) > len(code):
                argument = dialled[len(code):]
                if argument.isdigit():
                    return Match(FEATURES[name], code, argument)
        return None

    def is_feature_code(self, dialled: str) -> bool:
        return self.match(dialled) is not None

    def table(self) -> list[tuple[str, str, str]]:
        """(code, description, feature name) for display, in code order."""
        rows = []
        for name, code in self.codes.items():
            feature = FEATURES[name]
            shown = f"{code}<number>" if feature.takes_argument else code
            if feature.in_call:
                shown += " (during a call)"
            rows.append((shown, feature.description, name))
        return sorted(rows)

    def check(self, extensions: Iterable[str] = ()) -> None:
        """Raise FeatureCodeConflict listing every collision or unreachable code."""
        problems: list[str] = []
        by_code: dict[tuple[str, bool, bool], list[str]] = {}
        for name, code in self.codes.items():
            feature = FEATURES[name]
            if not code or any(c not in "0123456789*#" for c in code):
                problems.append(f"{name}: {code!r} is not a dialable code (digits, * and #)")
            by_code.setdefault((code, feature.takes_argument, feature.in_call), []).append(name)
        for (code, _, _), names in by_code.items():
            if len(names) > 1 and not _shared_on_purpose(names):
                problems.append(f"{' and '.join(sorted(names))} share the code {code}")
        for prefix, owner in self._prefixes:
            for code, name in self._exact.items():
                if code.startswith(prefix) and len(code) > len(prefix):
                    argument = code[len(prefix):]
                    if argument in set(extensions):
                        problems.append(f"{name} ({code}) makes {owner} of extension {argument} unreachable")
            for other, other_name in self._prefixes:
                if other != prefix and other.startswith(prefix):
                    problems.append(f"{other_name} ({other}…) is unreachable: {owner} ({prefix}…) takes it")
        for number in extensions:
            if number in self._exact:
                problems.append(f"extension {number} collides with feature code {number}")
        if problems:
            raise FeatureCodeConflict(problems)


def _shared_on_purpose(names: list[str]) -> bool:
    """Pairs that profiles map to one code by design (one entry point, the menu decides)."""
    return set(names) <= {"pickup_group", "pickup_directed"} or set(names) <= {"voicemail_main", "voicemail_own"}
