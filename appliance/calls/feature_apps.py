"""The feature codes that the box answers itself: do not disturb, announcements of addresses and number.

Each handler gets an answered-or-not `AppSession` and the caller's extension. Features that belong to
a larger service (voicemail, parking, queues) are registered by that service with `register()`.
Handlers never touch sockets; the store and the network are reached through the callables given.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from ipaddress import IPv4Interface
from typing import Any

from .app import AppSession
from .features import Match

log = logging.getLogger(__name__)

Handler = Callable[[AppSession, Match, str], Awaitable[None]]


class FeatureRunner:
    def __init__(self, set_preference: Callable[..., None],
                 live_addresses: Callable[[], dict[str, IPv4Interface | None]],
                 say_digits: Callable[[str, str], list[str]]):
        """`set_preference(extension, **changes)` writes extension preferences (dnd=…);
        `live_addresses()` reads the WAN/LAN addresses through netlink at the moment of the call;
        `say_digits(text, lang)` turns "192.168.1.10" into prompt ids."""
        self.set_preference = set_preference
        self.live_addresses = live_addresses
        self.say_digits = say_digits
        self._handlers: dict[str, Handler] = {
            "dnd_on": self._dnd_on,
            "dnd_off": self._dnd_off,
            "announce_wan": self._announce_wan,
            "announce_lan": self._announce_lan,
            "announce_extension": self._announce_extension,
        }

    def register(self, feature: str, handler: Handler) -> None:
        self._handlers[feature] = handler

    def handles(self, feature: str) -> bool:
        return feature in self._handlers

    async def run(self, session: AppSession, match: Match, caller: str) -> None:
        await self._handlers[match.feature.name](session, match, caller)

    # --- do not disturb ------------------------------------------------------------------------------
    async def _dnd_on(self, session: AppSession, match: Match, caller: str) -> None:
        await self._toggle(session, caller, "dnd", True, ["fc_dnd_activated"])

    async def _dnd_off(self, session: AppSession, match: Match, caller: str) -> None:
        await self._toggle(session, caller, "dnd", False, ["fc_dnd_deactivated"])

    async def _toggle(self, session: AppSession, caller: str, field: str, value: bool, confirm: list[str]) -> None:
        self.set_preference(caller, **{field: value})
        log.info("extension %s set %s=%s by feature code", caller, field, value)
        await session.answer(f"feature {field}")
        await session.play(confirm)
        session.hangup()

    # --- announcements ----------------------------------------------------------------------------------
    async def _announce_wan(self, session: AppSession, match: Match, caller: str) -> None:
        await self._announce_address(session, "wan")

    async def _announce_lan(self, session: AppSession, match: Match, caller: str) -> None:
        await self._announce_address(session, "lan")

    async def _announce_address(self, session: AppSession, role: str) -> None:
        # Read at the moment of the call: DHCP may have changed the address since start-up. On a worker
        # thread: netlink reads block, and pyroute2 runs an event loop of its own.
        addresses = await asyncio.get_running_loop().run_in_executor(None, self.live_addresses)
        address = addresses.get(role)
        await session.answer(f"announce {role}")
        intro = ["net_wan_address" if role == "wan" else "net_lan_address"]
        if address is None:
            await session.play(intro + ["net_no_address"])
        else:
            await session.play(intro + self.say_digits(str(address.ip), session.language))
        session.hangup()

    async def _announce_extension(self, session: AppSession, match: Match, caller: str) -> None:
        await session.answer("announce extension")
        await session.play(["fc_your_extension_is"] + self.say_digits(caller, session.language))
        session.hangup()
