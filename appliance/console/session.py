"""One console session: the line discipline and the menu glued together, bytes in and bytes out.

Still sans-I/O: the transport feeds received bytes and the time, writes what comes back, and calls
`handle_timer` when `next_timer` says so. Output is converted here to what a dumb serial terminal
needs: CRLF line ends and nothing but printable ASCII.
"""

from __future__ import annotations

from appliance.console.menu import Menu
from appliance.console.terminal import Cancel, Line, LineDiscipline, Overflow


def to_terminal(text: str) -> bytes:
    """LF -> CRLF; any non-ASCII or control character (but tab/CR/LF/BS/BEL) becomes '?'."""
    cleaned = "".join(ch if (" " <= ch <= "~" or ch in "\n\t\b\a") else "?" for ch in text.replace("\r\n", "\n"))
    return cleaned.replace("\n", "\r\n").encode("ascii")


class Session:
    """Bytes from the UART in, bytes for the UART out."""

    def __init__(self, menu: Menu, discipline: LineDiscipline | None = None) -> None:
        self.menu = menu
        self.discipline = discipline or LineDiscipline()

    def start(self, now: float) -> bytes:
        return to_terminal(self.menu.start(now))

    def receive(self, data: bytes, now: float) -> bytes:
        """Feed received bytes one at a time; returns echo and menu output, in order."""
        out = bytearray()
        for byte in data:
            self.discipline.secret = self.menu.secret
            echo, events = self.discipline.feed(byte)
            out += echo
            for event in events:
                if isinstance(event, Line):
                    out += to_terminal(self.menu.handle_line(event.text, now))
                elif isinstance(event, Cancel):
                    out += to_terminal(self.menu.handle_cancel(now))
                elif isinstance(event, Overflow):
                    out += to_terminal(self.menu.handle_overflow(now))
        return bytes(out)

    def next_timer(self) -> float | None:
        return self.menu.next_timer()

    def handle_timer(self, now: float) -> bytes:
        text = self.menu.handle_timer(now)
        if text:
            # the screen moved on under a half-typed line: drop it rather than submit it to a new question
            self.discipline.reset()
        return to_terminal(text)
