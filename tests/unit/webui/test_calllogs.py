"""Call logs: date range, type and number filters in any combination, paging, errors, recordings."""

from __future__ import annotations

import datetime

import pytest

from appliance.store import CallRecord, CdrStore
from tests.unit.webui.conftest import text

DAY = datetime.date(2024, 3, 14)


def _at(day: datetime.date, hour: int) -> float:
    return datetime.datetime.combine(day, datetime.time(hour)).timestamp()


@pytest.fixture
def calls(db):
    store = CdrStore(db)
    rows = [
        ("c1", _at(DAY, 9), "1001", "1002", "internal"),
        ("c2", _at(DAY, 10), "5550100", "1001", "inbound"),
        ("c3", _at(DAY + datetime.timedelta(days=1), 9), "1001", "013800138000", "outbound"),
        ("c4", _at(DAY - datetime.timedelta(days=1), 9), "1002", "5550100", "outbound"),
    ]
    for call_id, start, caller, called, kind in rows:
        store.insert(CallRecord(call_id=call_id, start=start, answer=start + 2, end=start + 62, caller=caller,
                                called=called, type=kind, status="answered"))
    return store


def _shown(page: str) -> set[str]:
    return {number for number in ("1002", "5550100", "013800138000") if f">{number}<" in page}


def test_an_extension_sees_its_calls_newest_first_with_all_columns(alice, calls):
    page = text(alice.get("/calls/"))
    assert "3 calls" in page
    assert page.index("013800138000") < page.index("5550100") < page.index(">1002<")
    assert "00:01:00" in page and "answered" in page and "outbound" in page
    assert "2024-03-14 10:00:00" in page


@pytest.mark.parametrize("query, expected_count", [
    ("start=2024-03-14&end=2024-03-14", 2),
    ("start=2024-03-15", 1),
    ("end=2024-03-14", 2),
    ("type=inbound", 1),
    ("type=outbound", 1),
    ("type=internal", 1),
    ("number=0100", 1),
    ("number=138 0013", 1),
    ("start=2024-03-14&end=2024-03-15&type=outbound&number=138", 1),
    ("start=2024-03-14&type=inbound&number=999", 0),
])
def test_filters_combine(alice, calls, query, expected_count):
    page = text(alice.get(f"/calls/?{query}"))
    if expected_count:
        assert f"{expected_count} call{'s' if expected_count != 1 else ''}</span>" in page
    else:
        assert "No calls match." in page


@pytest.mark.parametrize("query, field, message", [
    ("start=14.03.2024", "start", "not a date"),
    ("start=2024-03-15&end=2024-03-14", "end", "before the start"),
    ("type=missed", "type", "Choose all"),
    ("number=abc", "number", "Digits"),
])
def test_bad_filters_are_reported_next_to_their_field_and_kept(alice, calls, query, field, message):
    response = alice.get(f"/calls/?{query}")
    page = text(response)
    assert response.status_code == 400 and f'id="{field}-error"' in page and message in page


def test_admin_filters_by_extension(admin, calls):
    assert "4 calls" in text(admin.get("/calls/"))
    assert "2 calls" in text(admin.get("/calls/?extension=1002"))
    assert 'id="extension-error"' in text(admin.get("/calls/?extension=abc"))


def test_pages_of_fifty(alice, db):
    store = CdrStore(db)
    for i in range(120):
        start = _at(DAY, 8) + i
        store.insert(CallRecord(call_id=f"p{i}", start=start, end=start + 1, caller="1001", called=f"{200 + i}",
                                type="internal", status="no answer"))
    page = text(alice.get("/calls/?type=internal"))
    assert "120 calls" in page and "Page 1 of 3" in page and ">319<" in page and ">269<" not in page
    assert "page=2" in page and "type=internal" in page
    last = text(alice.get("/calls/?type=internal&page=3"))
    assert ">200<" in last and "Next" not in last
    assert alice.get("/calls/?page=banana").status_code == 200


def test_recordings_are_served_to_parties_and_admin_only(alice, bob, admin, db, data_dir):
    rec_dir = data_dir / "recordings"
    rec_dir.mkdir(exist_ok=True)
    (rec_dir / "r1.wav").write_bytes(b"RIFF....WAVEfmt ")
    store = CdrStore(db)
    record = store.insert(CallRecord(call_id="r", start=1.0, answer=2.0, end=3.0, caller="1001",
                                     called="5550100", type="outbound", status="answered", recording="r1.wav"))
    evil = store.insert(CallRecord(call_id="e", start=1.0, end=3.0, caller="1001", called="5", type="outbound",
                                   status="failed", recording="../pbx.sqlite3"))
    assert alice.get(f"/calls/{record.id}/recording").status_code == 200
    assert admin.get(f"/calls/{record.id}/recording").data.startswith(b"RIFF")
    assert bob.get(f"/calls/{record.id}/recording").status_code == 403
    assert alice.get(f"/calls/{evil.id}/recording").status_code == 404
    assert alice.get("/calls/999/recording").status_code == 404
    assert "<audio" in text(alice.get("/calls/"))
