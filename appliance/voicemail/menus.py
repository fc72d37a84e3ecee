"""The voicemail phone menus: log in, hear counts, browse messages, settings.

Keys follow the convention of Asterisk-based boxes such as CooVox, so that users' habits carry over:
while a message plays or after it, 3 envelope, 4 previous, 5 repeat, 6 next, 7 delete, 8 forward,
9 call the sender back, 0 settings, # exit. Settings: 1 unavailable greeting, 2 busy greeting,
3 name, 4 change PIN, 5 delete all read messages, 6 mailbox information, * back.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from appliance.calls.app import AppSession

from .deposit import IO, beep
from .exceptions import InvalidMailboxValue, MailboxFull, NoSuchMailbox
from .storage import Mailbox, Message, VoicemailStore

log = logging.getLogger(__name__)

PIN_ATTEMPTS = 3
GREETING_SECONDS = 60.0


class Speech:
    """The number/time saying functions of appliance.prompts, bundled so tests can pass their own."""

    def __init__(self, say_digits: Callable[[str, str], list[str]], say_count: Callable[[int, str, str], list[str]],
                 say_time: Callable[..., list[str]]):
        self.digits = say_digits
        self.count = say_count
        self.time = say_time


class MailboxMenus:
    def __init__(self, store: VoicemailStore, io: IO, speech: Speech, *,
                 check_pin: Callable[[Mailbox, str], bool],
                 set_pin: Callable[[Mailbox, str], None],
                 pin_is_default: Callable[[Mailbox], bool],
                 mailbox_changed: Callable[[str], None],
                 call_back: Callable[[AppSession, str], Awaitable[None]] | None = None,
                 now: Callable[[], float],
                 timezone: dt.tzinfo | None = None):
        self.store = store
        self.io = io
        self.say = speech
        self.check_pin = check_pin
        self.set_pin = set_pin
        self.pin_is_default = pin_is_default
        self.mailbox_changed = mailbox_changed
        self.call_back = call_back
        self.now = now
        self.timezone = timezone

    # --- entry points ----------------------------------------------------------------------------------
    async def main_menu(self, session: AppSession) -> None:
        """*60: any mailbox, by number and PIN."""
        await session.answer("voicemail main menu")
        for _ in range(PIN_ATTEMPTS):
            await session.play(["vm_welcome", "vm_enter_mailbox"], interrupt=True)
            number = await session.collect(8, timeout=5.0, first_timeout=8.0)
            try:
                mailbox = await self.io(self.store.mailbox, number)
            except NoSuchMailbox:
                await session.play(["vm_invalid_mailbox"])
                continue
            _speak_as(session, mailbox)
            if await self._login(session, mailbox, always_ask=True):
                await self._mailbox_session(session, mailbox)
            return
        await self._goodbye(session, ["vm_too_many_attempts"])

    async def own_mailbox(self, session: AppSession, extension: str, trusted: bool) -> None:
        """*61: the caller's own mailbox (no PIN when the calling device is trusted)."""
        await session.answer(f"voicemail {extension}")
        mailbox = await self.io(self.store.mailbox, extension)
        _speak_as(session, mailbox)
        if trusted or await self._login(session, mailbox):
            await self._mailbox_session(session, mailbox)

    async def shared_mailbox(self, session: AppSession, number: str) -> None:
        """*56 + number: a shared mailbox, with its PIN when it requires one."""
        await session.answer(f"voicemail {number}")
        try:
            mailbox = await self.io(self.store.mailbox, number)
        except NoSuchMailbox:
            await self._goodbye(session, ["vm_invalid_mailbox"])
            return
        if mailbox.kind != "shared":
            await self._goodbye(session, ["vm_invalid_mailbox"])
            return
        _speak_as(session, mailbox)
        if not mailbox.require_pin or await self._login(session, mailbox):
            await self._mailbox_session(session, mailbox)

    # --- login and PIN ------------------------------------------------------------------------------------
    async def _login(self, session: AppSession, mailbox: Mailbox, always_ask: bool = False) -> bool:
        for attempt in range(PIN_ATTEMPTS):
            await session.play(["vm_enter_pin"], interrupt=True)
            pin = await session.collect(10, timeout=5.0, first_timeout=8.0)
            if pin and await self.io(self.check_pin, mailbox, pin):
                if await self.io(self.pin_is_default, mailbox):
                    await session.play(["vm_default_pin"])
                    if not await self._change_pin(session, mailbox):
                        await self._goodbye(session, [])
                        return False
                return True
            log.info("voicemail %s: wrong PIN (attempt %d of %d)", mailbox.number, attempt + 1, PIN_ATTEMPTS)
            await session.play(["vm_incorrect_pin"])
        log.warning("voicemail %s: %d wrong PINs, hanging up", mailbox.number, PIN_ATTEMPTS)
        await self._goodbye(session, ["vm_too_many_attempts"])
        return False

    async def _change_pin(self, session: AppSession, mailbox: Mailbox) -> bool:
        for _ in range(PIN_ATTEMPTS):
            await session.play(["vm_enter_new_pin"], interrupt=True)
            first = await session.collect(10, timeout=5.0, first_timeout=8.0)
            await session.play(["vm_reenter_pin"], interrupt=True)
            second = await session.collect(10, timeout=5.0, first_timeout=8.0)
            if first != second:
                await session.play(["vm_pin_mismatch"])
                continue
            try:
                await self.io(self.set_pin, mailbox, first)
            except (InvalidMailboxValue, ValueError) as err:
                log.info("voicemail %s: new PIN refused: %s", mailbox.number, err)
                await session.play(["vm_pin_invalid"])
                continue
            await session.play(["vm_pin_changed"])
            return True
        return False

    # --- inside a mailbox -----------------------------------------------------------------------------------
    async def _mailbox_session(self, session: AppSession, mailbox: Mailbox) -> None:
        silent_rounds = 0
        while True:
            counts = await self.io(self.store.count, mailbox.number)
            options = ["you_have", *self.say.count(counts["new"], "new_message", session.language), "and",
                       *self.say.count(counts["old"], "old_message", session.language)]
            if counts["total"]:
                options += ["opt_listen_new", "press", "digit_1"]
            options += ["opt_settings", "press", "digit_0", "opt_exit", "press", "key_pound"]
            await session.play(options, interrupt=True)
            choice = await session.choose()
            if choice == "1" and counts["total"]:
                if not await self._browse(session, mailbox):
                    return
            elif choice == "0":
                await self._settings(session, mailbox)
            elif choice == "" and silent_rounds < 2:
                silent_rounds += 1
                continue
            else:
                await self._goodbye(session, [])
                return
            silent_rounds = 0

    async def _browse(self, session: AppSession, mailbox: Mailbox) -> bool:
        """Play messages, new first; returns False when the caller chose to leave voicemail."""
        messages = await self.io(self.store.messages, mailbox.number)
        index = 0
        replay = True
        while 0 <= index < len(messages):
            message = messages[index]
            if replay:
                interrupted = await self._play_message(session, mailbox, message, index)
                if message.is_new:
                    messages[index] = await self.io(self.store.mark, message.id, True)
                    self.mailbox_changed(mailbox.number)
                if interrupted is None:
                    await self._message_options(session)
            else:
                await self._message_options(session)
            digit = await session.choose()
            replay = True
            if digit == "6" or digit == "":
                index += 1
                if index == len(messages):
                    await session.play(["vm_no_more_messages"])
                    return True
            elif digit == "4":
                if index == 0:
                    await session.play(["vm_first_message"])
                index = max(0, index - 1)
            elif digit == "5":
                pass
            elif digit == "3":
                await session.play(self._envelope(session, messages[index]), interrupt=True)
                replay = False
            elif digit == "7":
                await self.io(self.store.delete, messages[index].id)
                self.mailbox_changed(mailbox.number)
                await session.play(["vm_message_deleted"])
                del messages[index]
                if index == len(messages):
                    await session.play(["vm_no_more_messages"])
                    return True
            elif digit == "8":
                await self._forward(session, mailbox, messages[index])
                replay = False
            elif digit == "9":
                if await self._call_back(session, messages[index]):
                    return False
                replay = False
            elif digit == "0":
                await self._settings(session, mailbox)
                replay = False
            elif digit == "#":
                await self._goodbye(session, [])
                return False
            else:
                await session.play(["invalid_option"])
                replay = False
        return True

    async def _play_message(self, session: AppSession, mailbox: Mailbox, message: Message, index: int) -> str | None:
        intro: list[Any] = ["vm_message", *self.say.digits(str(index + 1), session.language)]
        if mailbox.announce_time or mailbox.announce_caller:
            intro += self._envelope(session, message, mailbox)
        key = await session.play(intro, interrupt=True)
        if key is not None:
            return key
        return await session.play(str(self.store.audio_path(message)), interrupt=True)

    async def _message_options(self, session: AppSession) -> str | None:
        return await session.play(
            ["opt_next", "press", "digit_6", "opt_repeat", "press", "digit_5", "opt_previous", "press", "digit_4",
             "opt_delete", "press", "digit_7", "opt_forward", "press", "digit_8", "opt_call_back", "press", "digit_9",
             "opt_envelope", "press", "digit_3", "opt_exit", "press", "key_pound"], interrupt=True)

    def _envelope(self, session: AppSession, message: Message, mailbox: Mailbox | None = None) -> list[str]:
        parts: list[str] = []
        if mailbox is None or mailbox.announce_time:
            when = dt.datetime.fromtimestamp(message.received_at, self.timezone)
            today = dt.datetime.fromtimestamp(self.now(), self.timezone)
            parts += ["vm_received", *self.say.time(when, session.language, now=today)]
        if mailbox is None or mailbox.announce_caller:
            if message.caller:
                kind = "vm_from_extension" if len(message.caller) <= 8 else "vm_from_number"
                parts += [kind, *self.say.digits(message.caller, session.language)]
            else:
                parts += ["vm_unknown_caller"]
        return parts

    async def _forward(self, session: AppSession, mailbox: Mailbox, message: Message) -> None:
        await session.play(["vm_enter_forward_mailbox"], interrupt=True)
        target = await session.collect(8, timeout=5.0, first_timeout=8.0)
        try:
            await self.io(self.store.copy_to, message, target, mailbox.number)
        except NoSuchMailbox:
            await session.play(["vm_invalid_mailbox"])
            return
        except MailboxFull:
            await session.play(["vm_mailbox_full"])
            return
        self.mailbox_changed(target)
        await session.play(["vm_message_forwarded"])

    async def _call_back(self, session: AppSession, message: Message) -> bool:
        if not message.caller or self.call_back is None:
            await session.play(["vm_no_sender_number"])
            return False
        await session.play(["vm_calling_sender"])
        await self.call_back(session, message.caller)
        return True

    # --- settings ----------------------------------------------------------------------------------------------
    async def _settings(self, session: AppSession, mailbox: Mailbox) -> None:
        while True:
            await session.play(
                ["vm_settings", "opt_record_unavailable", "press", "digit_1", "opt_record_busy", "press", "digit_2",
                 "opt_record_name", "press", "digit_3", "opt_change_pin", "press", "digit_4",
                 "opt_delete_read", "press", "digit_5", "opt_mailbox_info", "press", "digit_6",
                 "opt_main_menu", "press", "key_star"], interrupt=True)
            choice = await session.choose()
            if choice in ("1", "2", "3"):
                kind = {"1": "unavailable", "2": "busy", "3": "name"}[choice]
                await self._record_greeting(session, mailbox, kind)
            elif choice == "4":
                await self._change_pin(session, mailbox)
            elif choice == "5":
                deleted = await self.io(self.store.delete_read, mailbox.number)
                if deleted:
                    self.mailbox_changed(mailbox.number)
                await session.play(["vm_read_deleted"])
            elif choice == "6":
                counts = await self.io(self.store.count, mailbox.number)
                await session.play(["mailbox", *self.say.digits(mailbox.number, session.language), "you_have",
                                    *self.say.count(counts["new"], "new_message", session.language), "and",
                                    *self.say.count(counts["old"], "old_message", session.language)])
            elif choice in ("*", ""):
                return
            else:
                await session.play(["invalid_option"])

    async def _record_greeting(self, session: AppSession, mailbox: Mailbox, kind: str) -> None:
        final = self.store.greeting_path(mailbox.number, kind)
        pending = final.with_name(f"{final.stem}.pending.wav")
        prompt = "vm_record_name_after_tone" if kind == "name" else "vm_record_greeting_after_tone"
        while True:
            await session.play([prompt, "vm_press_pound_when_done"], interrupt=True)
            session.flush_digits()
            await session.play(beep())
            await session.record(pending, GREETING_SECONDS)
            await session.play(["opt_accept", "press", "digit_1", "opt_review", "press", "digit_2",
                                      "opt_rerecord", "press", "digit_3"], interrupt=True)
            choice = await session.choose()
            if choice == "2":
                await session.play(str(pending))
                await session.play(["opt_accept", "press", "digit_1", "opt_rerecord", "press", "digit_3"],
                                         interrupt=True)
                choice = await session.choose()
            if choice == "3":
                continue
            if choice == "1":
                await self.io(_replace, pending, final)
                await self.io(self.store.greeting_saved, mailbox.number, kind)
                await session.play(["vm_name_saved" if kind == "name" else "vm_greeting_saved"])
            else:
                await self.io(_discard, pending)
            return

    async def _goodbye(self, session: AppSession, before: list[str]) -> None:
        if not session.gone:
            await session.play([*before, "goodbye"])
        session.hangup()


def _replace(pending: Path, final: Path) -> None:
    os.replace(pending, final)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


def _speak_as(session: AppSession, mailbox: Mailbox) -> None:
    """From the moment the mailbox is known its prompts are in its language (a shared mailbox of the
    Shanghai office speaks Chinese to whoever dials in); a mailbox without one keeps the caller's."""
    if mailbox.language:
        session.language = mailbox.language
