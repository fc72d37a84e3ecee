"""Talking to the running pbxd over its control socket, with errors a page can show.

Two failures matter to a user and are kept apart: the telephony service is not reachable at all
(`PbxUnavailable`: pages say so and the rest of the UI works), and it refused what was asked
(`PbxRefused`, e.g. click-to-call for an extension whose phone is not registered).
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any

from appliance.control import ControlError, DaemonNotRunning, request
from appliance.errors import ApplianceError

log = logging.getLogger(__name__)

# The daemon prefixes unexpected handler errors with this; users get the reason only.
_INTERNAL_PREFIX = re.compile(r"^(?:internal error in '\w+': \w+: |bad request: )")


class PbxUnavailable(ApplianceError):
    """pbxd is not running or does not answer."""


class PbxRefused(ApplianceError):
    """pbxd answered with an error; the message is meant for the user."""


class PbxClient:
    """Synchronous client used by the views; one short connection per command."""

    def __init__(self, socket_path: str | os.PathLike[str], *, timeout: float = 3.0) -> None:
        self.socket_path = socket_path
        self.timeout = timeout

    def status(self) -> dict[str, Any]:
        """Registrations, calls and extension states (see pbxd's `_ctl_status`)."""
        return self._request("status")

    def originate(self, extension: str, target: str) -> int:
        """Click-to-call: ring `extension`'s phones, then dial `target` from the one that answers."""
        reply = self._request("originate", extension=extension, target=target)
        return int(reply.get("call", 0))

    def webphone(self, extension: str) -> dict[str, Any]:
        """The browser phone's short-lived token for `extension` and pbxd's WS/WSS ports (see pbxd's `webphone`)."""
        return self._request("webphone", extension=extension)

    def hangup(self, call_id: int) -> bool:
        """End a live call by its number in `status()`; False when it had already ended."""
        return bool(self._request("hangup", call=int(call_id)).get("hung_up"))

    def reload(self) -> None:
        """Ask pbxd to pick up configuration changes now; best effort (it polls the store anyway)."""
        try:
            self._request("reload")
        except ApplianceError as err:
            log.debug("pbxd reload not sent: %s", err)

    def voicemail_changed(self, mailbox: str) -> bool:
        """Tell pbxd a mailbox changed so message lamps follow; best effort (False when not told)."""
        try:
            self._request("voicemail_changed", mailbox=str(mailbox))
        except ApplianceError as err:
            log.info("pbxd not told that mailbox %s changed: %s", mailbox, err)
            return False
        return True

    def mail_wake(self) -> bool:
        """Retry waiting e-mail/SMS notifications now; False when pbxd runs no outbox."""
        return bool(self._request("mail_wake").get("woken"))

    def network_status(self) -> dict[str, Any]:
        """Saved settings, the change under way with seconds left, live links, last outcome (network.service)."""
        return self._request("network_status")

    def network_apply(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Apply `settings` (NetworkSettings.to_dict()); they stay only if network_confirm() follows in time."""
        return self._request("network_apply", settings=settings)

    def network_confirm(self) -> dict[str, Any]:
        """Keep and save the network change that waits for confirmation."""
        return self._request("network_confirm")

    def network_revert(self) -> dict[str, Any]:
        """Undo the network change that waits for confirmation, now."""
        return self._request("network_revert")

    def _request(self, cmd: str, **params: Any) -> dict[str, Any]:
        try:
            reply = request(self.socket_path, cmd, timeout=self.timeout, **params)
        except DaemonNotRunning as err:
            raise PbxUnavailable("the telephony service (pbxd) is not running") from err
        except ControlError as err:
            raise PbxUnavailable(f"the telephony service does not answer ({err})") from err
        if not reply.get("ok"):
            raise PbxRefused(_INTERNAL_PREFIX.sub("", str(reply.get("error") or "refused without a reason")))
        return reply
