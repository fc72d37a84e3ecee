"""The voicemail service: the one entry point calls are sent to, the phone menus, MWI and e-mail.

`take_call(session, mailbox, reason)` is what busy/no-answer routing, `*4` + extension and (later)
queues, ring groups, the auto attendant and inbound routes use. All storage work runs on one worker
thread with its own database connection, so fsyncs never stall the event loop; the results come back
to the loop, which sends MWI NOTIFYs and queues e-mails. `housekeeping()` (at start, then hourly, and
on pbxd's `voicemail_housekeeping` command) deletes messages past their mailbox's retention.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.calls.app import AppSession
from appliance.store import ExtensionStore, open_database

from .deposit import Depositor, DepositResult
from .exceptions import NoSuchMailbox
from .menus import MailboxMenus, Speech
from .retention import expire
from .rules import CallerRules, notification_address
from .storage import Mailbox, Message, VoicemailStore

log = logging.getLogger(__name__)

HOUSEKEEPING_INTERVAL = 3600.0


class VoicemailService:
    def __init__(self, database_path: Path, root: Path, speech: Speech, *,
                 wallclock: Callable[[], float],
                 mailbox_changed: Callable[[str], None],
                 outbox: Any = None,
                 trust_own_device: bool = False,
                 default_language: str = "en"):
        """`mailbox_changed(number)` runs on the event loop after counts change (MWI); `outbox` (an
        EmailOutbox) gets the e-mail/SMS notification the mailbox's rules decide for each new message."""
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="voicemail-io")
        self._db = self._executor.submit(open_database, database_path, check_same_thread=False).result()
        self.extensions = ExtensionStore(self._db)
        self.store = VoicemailStore(self._db, root, clock=wallclock, find_extension=self.extensions.find)
        self.wallclock = wallclock
        self._mailbox_changed = mailbox_changed
        self.outbox = outbox
        self.rules = CallerRules(self._db)
        self.trust_own_device = trust_own_device
        self.default_language = default_language
        self.depositor = Depositor(self.store, self.io, speech.digits)
        self.menus = MailboxMenus(
            self.store, self.io, speech,
            check_pin=self._check_pin, set_pin=self._set_pin, pin_is_default=self._pin_is_default,
            mailbox_changed=self.mailbox_changed, now=wallclock)
        self._housekeeper: asyncio.Task[None] | None = None

    async def io(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a storage call on the voicemail worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def recover(self) -> dict[str, int]:
        """Start-up: make files and rows agree after whatever ended the last run."""
        done = self._executor.submit(self.store.recover).result()
        if any(done.values()):
            log.warning("voicemail recovery after an unclean stop: %s", done)
        return done

    def start_housekeeping(self, interval: float = HOUSEKEEPING_INTERVAL) -> None:
        """Run `housekeeping()` now and every `interval` seconds (on the running event loop)."""
        self._housekeeper = asyncio.get_running_loop().create_task(self._housekeep_every(interval),
                                                                   name="voicemail-housekeeping")

    async def _housekeep_every(self, interval: float) -> None:
        while True:
            try:
                await self.housekeeping()
            except Exception:  # a locked database or a bad file must not end the hourly pass for good
                log.exception("voicemail housekeeping failed; trying again in %.0f s", interval)
            await asyncio.sleep(interval)

    async def housekeeping(self) -> dict[str, int]:
        """Delete messages past their mailbox's retention; returns how many went per mailbox.

        Runs on the voicemail thread like every other deletion; each mailbox that lost messages goes
        through the same mailbox-changed path as a delete from the phone, so message lamps follow.
        """
        gone = await self.io(expire, self.store, self.wallclock())
        per_mailbox = Counter(message.mailbox for message in gone)
        for number in sorted(per_mailbox):
            self.mailbox_changed(number)
        if gone:
            log.info("voicemail housekeeping: %d expired messages deleted (%s)", len(gone),
                     ", ".join(f"{n}: {c}" for n, c in sorted(per_mailbox.items())))
        return dict(per_mailbox)

    def close(self) -> None:
        if self._housekeeper is not None:
            self._housekeeper.cancel()
        self._executor.submit(self._db.conn.close).result()
        self._executor.shutdown(wait=True)

    # --- where calls come in ------------------------------------------------------------------------
    async def mailbox_for(self, number: str) -> Mailbox | None:
        """The mailbox a call to `number` may be sent to, or None (no mailbox, or voicemail switched off)."""
        try:
            mailbox = await self.io(self.store.mailbox, number)
        except NoSuchMailbox:
            return None
        if mailbox.kind == "personal":
            ext = await self.io(self.extensions.find, number)
            if ext is None or not ext.voicemail_enabled:
                return None
        return mailbox

    async def take_call(self, session: AppSession, mailbox: Mailbox, reason: str, caller: str,
                        caller_name: str | None) -> DepositResult:
        """The caller leaves a message in `mailbox` (reason: busy, unavailable, direct)."""
        if mailbox.language:
            session.language = mailbox.language
        decision = await self.io(self.rules.decide, mailbox, caller)
        result = await self.depositor.leave(session, mailbox, reason, caller, caller_name, self.wallclock(),
                                            greeting=decision.greeting)
        if result.message is not None:
            self.mailbox_changed(mailbox.number)
            try:
                await self.io(self._notify, result.message, mailbox, decision.email_action)
            except Exception:
                log.exception("cannot queue the notification of voicemail %s", result.message.uid)
        return result

    def _notify(self, message: Message, mailbox: Mailbox, action: str) -> None:
        """On the voicemail thread: queue the e-mail or SMS (the outbox's own worker sends it)."""
        if self.outbox is None or action == "none":
            return
        extension = self.extensions.find(mailbox.number) if mailbox.kind == "personal" else None
        language = mailbox.language or getattr(extension, "language", None) or self.default_language
        self.outbox.dispatch(action, message, mailbox, recipient=notification_address(mailbox, extension),
                             language=language)

    def feature_handlers(self, caller_name_of: Callable[[str], str | None]) -> dict[str, Any]:
        """Handlers for the voicemail feature codes (*61, *60, *56+N, *4+N), for the FeatureRunner."""

        async def own(session: AppSession, match: Any, caller: str) -> None:
            await self.menus.own_mailbox(session, caller, trusted=self.trust_own_device)

        async def main(session: AppSession, match: Any, caller: str) -> None:
            await self.menus.main_menu(session)

        async def shared(session: AppSession, match: Any, caller: str) -> None:
            await self.menus.shared_mailbox(session, match.argument)

        async def leave(session: AppSession, match: Any, caller: str) -> None:
            mailbox = await self.mailbox_for(match.argument)
            if mailbox is None:
                await session.answer("voicemail")
                await session.play(["vm_invalid_mailbox", "goodbye"])
                session.hangup()
                return
            await self.take_call(session, mailbox, "direct", caller, caller_name_of(caller))

        return {"voicemail_own": own, "voicemail_main": main, "voicemail_shared": shared, "voicemail_leave": leave}

    # --- PINs ---------------------------------------------------------------------------------------------
    def _check_pin(self, mailbox: Mailbox, pin: str) -> bool:
        if mailbox.kind == "shared":
            return self.store.check_shared_pin(mailbox.number, pin)
        return self.extensions.check_voicemail_pin(mailbox.number, pin)

    def _set_pin(self, mailbox: Mailbox, pin: str) -> None:
        if mailbox.kind == "shared":
            self.store.set_shared_pin(mailbox.number, pin)
        else:
            self.extensions.set_voicemail_pin(mailbox.number, pin)

    def _pin_is_default(self, mailbox: Mailbox) -> bool:
        if mailbox.kind == "shared":
            return False
        ext = self.extensions.find(mailbox.number)
        return ext is not None and ext.voicemail_pin_is_default

    # --- notifications ---------------------------------------------------------------------------------------
    def mailbox_changed(self, number: str) -> None:
        try:
            self._mailbox_changed(number)
        except Exception:
            log.exception("MWI update for %s failed", number)
