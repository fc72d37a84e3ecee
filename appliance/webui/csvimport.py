"""CSV import of contacts: first name, last name, then one or more numbers (3CX MyPhone's layout).

Accepted: UTF-8 (with or without BOM), comma, semicolon or tab separated (Excel writes ';' in many
locales), an optional header row, several numbers per row as extra columns or separated by ';' or '|'
inside one cell. Every row that cannot be imported is reported with its line number and the reason;
the rows that can are imported together.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from appliance.store.contacts import NUMBER_LABELS, NUMBERS_MAX, Contact, ContactNumber, normalize_number, validate_contact
from appliance.store.exceptions import InvalidValue

ALLOWED_SUFFIXES = (".csv", ".txt")
ALLOWED_TYPES = ("text/csv", "text/plain", "application/csv", "application/vnd.ms-excel",
                 "text/comma-separated-values", "application/octet-stream", "")
_HEADER_WORDS = re.compile(r"first|last|name|number|phone|tel|mobile|名|姓|号码|电话|имя|фамилия|номер|телефон", re.I)
_CELL_SPLIT = re.compile(r"[;|]")


class CsvFileError(ValueError):
    """The file as a whole cannot be read (type, size, encoding): nothing is imported."""


@dataclass(frozen=True)
class RejectedRow:
    line: int
    text: str
    reason: str


@dataclass
class ImportPlan:
    """What an upload would import, and what it refuses."""

    contacts: list[Contact] = field(default_factory=list)
    rejected: list[RejectedRow] = field(default_factory=list)
    header_skipped: bool = False


def check_upload(filename: str, content_type: str, data: bytes, *, max_bytes: int) -> str:
    """Return the file's text; raise CsvFileError for a wrong type, size or encoding."""
    name = (filename or "").lower()
    if not name.endswith(ALLOWED_SUFFIXES):
        raise CsvFileError("Choose a .csv file (first name, last name, number).")
    if (content_type or "").split(";")[0].strip().lower() not in ALLOWED_TYPES:
        raise CsvFileError(f"The file is not a CSV file (it was sent as {content_type}).")
    if len(data) > max_bytes:
        raise CsvFileError(f"The file is larger than {max_bytes // 1024} KiB.")
    if not data.strip():
        raise CsvFileError("The file is empty.")
    if b"\x00" in data:
        raise CsvFileError("The file is not a text file.")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvFileError("The file is not UTF-8 text: save it as \"CSV UTF-8\" and upload it again.") from None


def _dialect(text: str) -> type[csv.Dialect] | csv.Dialect:
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _looks_like_header(cells: list[str]) -> bool:
    joined = " ".join(cells)
    return bool(_HEADER_WORDS.search(joined)) and not re.search(r"\d{3,}", joined)


def plan_import(
    text: str, *, owner: str | None, existing_numbers: Iterable[str] = (), max_rows: int = 10_000
) -> ImportPlan:
    """Turn CSV text into contacts for `owner`'s book (None: company) and a list of rejected rows."""
    plan = ImportPlan()
    seen = set(existing_numbers)
    reader = csv.reader(io.StringIO(text), _dialect(text))
    data_rows = 0
    try:
        for cells in reader:
            line = reader.line_num
            cells = [c.strip() for c in cells]
            if not any(cells):
                continue
            if data_rows == 0 and not plan.header_skipped and _looks_like_header(cells):
                plan.header_skipped = True
                continue
            data_rows += 1
            if data_rows > max_rows:
                plan.rejected.append(RejectedRow(line, _shown(cells), f"more than {max_rows} rows: the rest "
                                                                      "of the file was not read"))
                break
            result = _row(cells, owner, seen)
            if isinstance(result, str):
                plan.rejected.append(RejectedRow(line, _shown(cells), result))
                continue
            plan.contacts.append(result)
            seen.update(n.number for n in result.numbers)
    except csv.Error as err:
        plan.rejected.append(RejectedRow(reader.line_num, "", f"unreadable CSV: {err}"))
    return plan


def _row(cells: list[str], owner: str | None, seen: set[str]) -> Contact | str:
    """A contact, or the reason the row is rejected."""
    if len(cells) < 3:
        return "needs at least three columns: first name, last name, number"
    first, last = cells[0], cells[1]
    raw_numbers = [part.strip() for cell in cells[2:] for part in _CELL_SPLIT.split(cell) if part.strip()]
    if not raw_numbers:
        return "no number"
    if len(raw_numbers) > NUMBERS_MAX:
        return f"more than {NUMBERS_MAX} numbers"
    numbers: list[ContactNumber] = []
    for i, raw in enumerate(raw_numbers):
        try:
            number = normalize_number(raw)
        except InvalidValue:
            return f"'{raw}' is not a phone number"
        if number in seen or any(n.number == number for n in numbers):
            return f"{number} is already in this phonebook"
        numbers.append(ContactNumber(number, NUMBER_LABELS[min(i, len(NUMBER_LABELS) - 1)]))
    try:
        return validate_contact(Contact(first_name=first, last_name=last, numbers=tuple(numbers), owner=owner))
    except InvalidValue as err:
        names = {"first_name": "name", "last_name": "last name", "company": "name"}
        return f"{names.get(err.field, err.field)}: {err.message}"


def _shown(cells: list[str]) -> str:
    text = ", ".join(cells)
    return text if len(text) <= 120 else text[:117] + "..."
