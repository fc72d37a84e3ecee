"""The console's line discipline, fed one byte at a time."""

from __future__ import annotations

from appliance.console.terminal import Cancel, Line, LineDiscipline, Overflow


def feed(discipline: LineDiscipline, data: bytes) -> tuple[bytes, list[object]]:
    echo, events = bytearray(), []
    for byte in data:
        out, new = discipline.feed(byte)
        echo += out
        events += new
    return bytes(echo), events


def test_cr_lf_and_crlf_each_end_exactly_one_line() -> None:
    discipline = LineDiscipline()
    _, events = feed(discipline, b"a\rb\nc\r\nd\n\re\r\r")
    assert events == [Line("a"), Line("b"), Line("c"), Line("d"), Line(""), Line("e"), Line("")]


def test_typed_characters_are_echoed_and_line_end_echoes_crlf() -> None:
    echo, _ = feed(LineDiscipline(), b"ab\r")
    assert echo == b"ab\r\n"


def test_backspace_and_del_erase_one_character_each() -> None:
    discipline = LineDiscipline()
    echo, events = feed(discipline, b"abc\x08\x7fd\r")
    assert events == [Line("ad")]
    assert echo == b"abc\b \b\b \bd\r\n"


def test_backspace_on_an_empty_line_echoes_nothing() -> None:
    echo, events = feed(LineDiscipline(), b"\x08\x7f\x08x\r")
    assert echo == b"x\r\n" and events == [Line("x")]


def test_ctrl_u_erases_the_line() -> None:
    echo, events = feed(LineDiscipline(), b"abc\x15z\r")
    assert events == [Line("z")]
    assert echo.startswith(b"abc" + b"\b \b" * 3)


def test_ctrl_c_cancels() -> None:
    echo, events = feed(LineDiscipline(), b"ab\x03")
    assert events == [Cancel()] and echo.endswith(b"^C\r\n")


def test_ansi_escape_sequences_from_arrow_and_function_keys_are_dropped() -> None:
    sequences = [b"\x1b[A", b"\x1b[B", b"\x1b[1;5D", b"\x1bOP", b"\x1b[15~", b"\x1b[?25h", b"\x1bx", b"\x1b\x1b[C"]
    discipline = LineDiscipline()
    echo, events = feed(discipline, b"1" + b"".join(sequences) + b"2\r")
    assert events == [Line("12")]
    assert echo == b"12\r\n"


def test_line_end_inside_an_escape_sequence_still_ends_the_line() -> None:
    _, events = feed(LineDiscipline(), b"7\x1b[1;\r")
    assert events == [Line("7")]


def test_endless_escape_sequence_does_not_swallow_input_forever() -> None:
    discipline = LineDiscipline()
    _, events = feed(discipline, b"\x1b[" + b"1;" * 20 + b"9")
    assert events == [] and discipline.pending.endswith(";9")  # after 16 bytes it is text again
    _, events = feed(discipline, b"\x15ok\r")
    assert events == [Line("ok")]


def test_high_bit_and_control_bytes_are_ignored() -> None:
    noise = bytes([0x00, 0x01, 0x07, 0x09, 0x0B, 0x0C, 0x11, 0x13, 0x1F, 0x80, 0x9B, 0xC3, 0xA9, 0xFF])
    echo, events = feed(LineDiscipline(), b"o" + noise + b"k\r")
    assert events == [Line("ok")] and echo == b"ok\r\n"


def test_overlong_line_is_discarded_as_a_whole_with_one_bell() -> None:
    discipline = LineDiscipline(max_line=8)
    echo, events = feed(discipline, b"x" * 20 + b"\x08\x08\r")
    assert events == [Overflow()]
    assert echo.count(b"\x07") == 1
    _, events = feed(discipline, b"ok\r")
    assert events == [Line("ok")]  # the next line is fine again


def test_secret_input_echoes_stars() -> None:
    discipline = LineDiscipline()
    discipline.secret = True
    echo, events = feed(discipline, b"1234\r")
    assert echo == b"****\r\n" and events == [Line("1234")]


def test_sequence_split_across_reads_is_still_recognised() -> None:
    discipline = LineDiscipline()
    _, first = feed(discipline, b"a\x1b")
    _, second = feed(discipline, b"[")
    _, third = feed(discipline, b"Db\r")
    assert first == second == [] and third == [Line("ab")]
