"""The line discipline of the serial console: raw bytes in, edited lines and echo out.

A UART in the field carries more than keystrokes: line noise when a cable is plugged in, ANSI escape
sequences from arrow and function keys, bytes with the high bit set from a terminal at the wrong
speed or in UTF-8, and CR, LF or CRLF line ends depending on the terminal program. This layer turns
all of that into clean ASCII lines so the menu above never sees a byte it did not ask for. It is
fed one byte at a time and keeps no timers, so a sequence split across reads is handled the same.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

CR, LF, BS, DEL, ESC, BEL = 0x0D, 0x0A, 0x08, 0x7F, 0x1B, 0x07
CTRL_C, CTRL_U = 0x03, 0x15
MAX_LINE = 72
# an escape sequence longer than this is noise that happened to start with ESC
MAX_ESCAPE = 16


@dataclass(frozen=True)
class Line:
    """A complete input line (printable ASCII, not stripped)."""

    text: str


@dataclass(frozen=True)
class Cancel:
    """Ctrl-C: the user wants out of the current question."""


@dataclass(frozen=True)
class Overflow:
    """A line longer than the limit ended; it was discarded as a whole (likely noise)."""


Event = Line | Cancel | Overflow


class _State(enum.Enum):
    TEXT = 0
    ESCAPE = 1  # after ESC
    CSI = 2  # after ESC [  : parameters until a final byte 0x40-0x7E
    SS3 = 3  # after ESC O  : one more byte (F1-F4, keypad in application mode)


class LineDiscipline:
    """Byte-at-a-time line editor: echo, backspace/DEL, Ctrl-U, Ctrl-C, CR/LF/CRLF; drops the rest."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self.max_line = max_line
        #: echo '*' instead of the characters typed (PIN entry); set by the session per byte
        self.secret = False
        self._buffer: list[str] = []
        self._overflow = False
        self._state = _State.TEXT
        self._escape_length = 0
        self._after_cr = False

    @property
    def pending(self) -> str:
        """The partial line typed so far."""
        return "".join(self._buffer)

    def reset(self) -> None:
        """Forget any partial line (e.g. when the menu moves on without waiting for it)."""
        self._buffer.clear()
        self._overflow = False
        self._state = _State.TEXT
        self._escape_length = 0

    def feed(self, byte: int) -> tuple[bytes, list[Event]]:
        """Process one received byte; returns the bytes to echo and the events it completed."""
        if self._state is not _State.TEXT:
            if self._escape(byte):
                return b"", []
        after_cr, self._after_cr = self._after_cr, False
        if byte == CR:
            self._after_cr = True
            return self._end_line()
        if byte == LF:
            if after_cr:  # the LF of a CRLF pair
                return b"", []
            return self._end_line()
        if byte == ESC:
            self._state, self._escape_length = _State.ESCAPE, 0
            return b"", []
        if byte in (BS, DEL):
            if self._overflow:
                return b"", []
            if self._buffer:
                self._buffer.pop()
                return b"\b \b", []
            return b"", []
        if byte == CTRL_U:
            erased = len(self._buffer)
            self.reset()
            return b"\b \b" * erased, []
        if byte == CTRL_C:
            self.reset()
            return b"^C\r\n", [Cancel()]
        if 0x20 <= byte < 0x7F:
            if self._overflow or len(self._buffer) >= self.max_line:
                first = not self._overflow
                self._overflow = True
                return (bytes([BEL]) if first else b""), []
            self._buffer.append(chr(byte))
            return (b"*" if self.secret else bytes([byte])), []
        # other control characters, and anything with the high bit set: ignored
        return b"", []

    def _escape(self, byte: int) -> bool:
        """Advance an escape sequence; True if `byte` was consumed by it."""
        self._escape_length += 1
        if byte in (CR, LF, CTRL_C) or self._escape_length > MAX_ESCAPE:
            # a line end or Ctrl-C always counts, even inside a sequence cut short by noise
            self._state = _State.TEXT
            return byte not in (CR, LF, CTRL_C)
        if self._state is _State.ESCAPE:
            if byte == ord("["):
                self._state = _State.CSI
            elif byte == ord("O"):
                self._state = _State.SS3
            elif byte != ESC:
                self._state = _State.TEXT  # ESC x (Alt+x): both dropped
            return True
        if self._state is _State.SS3:
            self._state = _State.TEXT
            return True
        # CSI: parameter bytes 0x30-0x3F, intermediates 0x20-0x2F, final 0x40-0x7E
        if 0x40 <= byte <= 0x7E or not 0x20 <= byte <= 0x7E:
            self._state = _State.TEXT
        return True

    def _end_line(self) -> tuple[bytes, list[Event]]:
        overflow, text = self._overflow, self.pending
        self.reset()
        if overflow:
            return b"\r\n", [Overflow()]
        return b"\r\n", [Line(text)]
