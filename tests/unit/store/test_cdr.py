"""Call-detail records: insertion, validation, search filters, and that searches stay on indexes."""

from __future__ import annotations

import random
import time

import pytest

from appliance.store import CallRecord, CdrStore, InvalidValue, NoSuchCallRecord
from appliance.store.db import transaction

T0 = 1_700_000_000.0


def _record(start: float = T0, **values) -> CallRecord:
    """An answered internal call of 65 s (5 s ringing) starting at `start`, with `values` changed."""
    defaults = dict(
        call_id="c1", start=start, answer=start + 5, end=start + 65, caller="1001", called="1002",
        type="internal", status="answered",
    )
    return CallRecord(**{**defaults, **values})


@pytest.fixture
def cdr(db) -> CdrStore:
    return CdrStore(db)


def test_inserted_record_gets_an_id_and_reads_back(cdr) -> None:
    stored = cdr.insert(_record(caller_name="Alice", recording="recordings/c1.wav", hangup_cause="16"))
    assert stored.id is not None
    assert cdr.get(stored.id) == stored
    assert stored.duration == 60
    assert stored.final_called == "1002"
    assert stored.total_seconds == 65


def test_unanswered_call_has_zero_duration(cdr) -> None:
    stored = cdr.insert(_record(answer=None, status="no answer", end=T0 + 30))
    assert stored.duration == 0


def test_unknown_id_raises(cdr) -> None:
    with pytest.raises(NoSuchCallRecord):
        cdr.get(12345)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"type": "local"}, "type"),
        ({"status": "rejected"}, "status"),
        ({"end": T0 - 1, "answer": None, "status": "failed"}, "end"),
        ({"answer": None}, "answer"),
        ({"status": "busy"}, "answer"),
        ({"answer": T0 + 100}, "answer"),
        ({"call_id": ""}, "call_id"),
        ({"caller": ""}, "caller"),
    ],
)
def test_inconsistent_records_are_refused(cdr, values, field) -> None:
    with pytest.raises(InvalidValue) as info:
        cdr.insert(_record(**values))
    assert info.value.field == field


@pytest.fixture
def sample(cdr) -> dict[str, int]:
    rows = {
        "internal": _record(call_id="a", start=T0 + 0, caller="1001", called="1002"),
        "forwarded": _record(call_id="b", start=T0 + 100, caller="1003", called="1001", final_called="1002"),
        "inbound": _record(call_id="c", start=T0 + 200, caller="+8613800138000", called="1001", type="inbound",
                           answer=None, status="no answer"),
        "outbound": _record(call_id="d", start=T0 + 300, caller="1002", called="902088887777", type="outbound",
                            answer=None, status="busy"),
        "failed": _record(call_id="e", start=T0 + 400, caller="1003", called="95550100", type="outbound",
                          answer=None, status="failed"),
    }
    return {name: cdr.insert(record).id for name, record in rows.items()}


def _ids(records) -> list[int]:
    return [r.id for r in records]


def test_search_without_filters_lists_newest_first(cdr, sample) -> None:
    assert _ids(cdr.search()) == [sample[n] for n in ("failed", "outbound", "inbound", "forwarded", "internal")]


def test_search_by_time_range_includes_start_excludes_end(cdr, sample) -> None:
    assert _ids(cdr.search(start=T0 + 100, end=T0 + 300)) == [sample["inbound"], sample["forwarded"]]


def test_search_by_type_and_status(cdr, sample) -> None:
    assert _ids(cdr.search(type="outbound")) == [sample["failed"], sample["outbound"]]
    assert _ids(cdr.search(type="outbound", status="busy")) == [sample["outbound"]]
    assert _ids(cdr.search(status="answered")) == [sample["forwarded"], sample["internal"]]


def test_search_by_extension_matches_caller_called_and_final_called(cdr, sample) -> None:
    assert _ids(cdr.search(extension="1002")) == [
        sample["outbound"], sample["forwarded"], sample["internal"],
    ]
    assert _ids(cdr.search(extension="1001", type="inbound")) == [sample["inbound"]]


def test_search_by_number_matches_part_of_any_party(cdr, sample) -> None:
    assert _ids(cdr.search(number="138001")) == [sample["inbound"]]
    assert _ids(cdr.search(number="5550")) == [sample["failed"]]


def test_search_by_short_number_fragment_scans_and_still_matches(cdr, sample) -> None:
    assert _ids(cdr.search(number="55")) == [sample["failed"]]


def test_number_index_follows_updates_and_deletes(db, cdr, sample) -> None:
    db.conn.execute(
        "UPDATE cdr SET called = '977776666', final_called = '977776666' WHERE id = ?", (sample["failed"],)
    )
    assert _ids(cdr.search(number="5550")) == []
    assert _ids(cdr.search(number="77766")) == [sample["failed"]]
    db.conn.execute("DELETE FROM cdr WHERE id = ?", (sample["failed"],))
    assert _ids(cdr.search(number="77766")) == []


def test_number_search_works_without_the_trigram_index(db, sample) -> None:
    for trigger in ("insert", "delete", "update"):
        db.conn.execute(f"DROP TRIGGER cdr_parties_{trigger}")
    db.conn.execute("DROP TABLE cdr_parties")
    assert _ids(CdrStore(db).search(number="138001")) == [sample["inbound"]]


def test_search_combines_every_filter(cdr, sample) -> None:
    found = cdr.search(start=T0, end=T0 + 500, type="outbound", status="failed", number="555", extension="1003")
    assert _ids(found) == [sample["failed"]]
    assert cdr.search(start=T0 + 401, extension="1003") == []


def test_search_pages_with_limit_and_offset_and_count_agrees(cdr, sample) -> None:
    all_ids = _ids(cdr.search())
    assert _ids(cdr.search(limit=2)) == all_ids[:2]
    assert _ids(cdr.search(limit=2, offset=2)) == all_ids[2:4]
    assert cdr.count() == 5
    assert cdr.count(type="outbound") == 2
    assert cdr.count(extension="1002") == 3


def test_search_refuses_unknown_type_and_silly_paging(cdr) -> None:
    with pytest.raises(InvalidValue):
        cdr.search(type="local")
    with pytest.raises(InvalidValue):
        cdr.search(limit=0)
    with pytest.raises(InvalidValue):
        cdr.search(offset=-1)


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, "cdr_start"),
        ({"start": T0, "end": T0 + 86400}, "cdr_start"),
        ({"start": T0, "type": "inbound"}, "cdr_start"),
        ({"extension": "1001"}, "cdr_caller_start"),
        ({"extension": "1001", "start": T0}, "cdr_final_called_start"),
        ({"number": "13800"}, "cdr_parties VIRTUAL TABLE INDEX"),
    ],
)
def test_search_uses_an_index_not_a_table_scan(cdr, filters, index) -> None:
    steps = cdr.explain_search(**filters)
    plan = " | ".join(steps)
    assert index in plan, plan
    table_scans = [s for s in steps if s.split()[:2] == ["SCAN", "cdr"] and "INDEX" not in s]
    assert table_scans == [], plan


def _fill(db, cdr: CdrStore, rows: int) -> None:
    rng = random.Random(7)
    extensions = [str(n) for n in range(1001, 1101)]
    with transaction(db):
        db["cdr"].insert_all(
            (
                {
                    "call_id": f"call-{i}", "start": T0 + i * 30, "answer": None, "end": T0 + i * 30 + 20,
                    "caller": rng.choice(extensions),
                    "called": rng.choice(extensions) if i % 3 else f"9{rng.randrange(10**9):09d}",
                    "final_called": rng.choice(extensions),
                    "duration": 0, "type": "internal" if i % 3 else "outbound",
                    "status": rng.choice(["no answer", "busy", "failed"]),
                }
                for i in range(rows)
            ),
            batch_size=5000,
        )


def _best_of(runs: int, action) -> float:
    """Best CPU time of `runs` calls: what the query costs, whatever else the machine is doing."""
    best = float("inf")
    for _ in range(runs):
        began = time.process_time()
        action()
        best = min(best, time.process_time() - began)
    return best


def test_searching_100000_records_takes_well_under_100_ms(db, cdr) -> None:
    _fill(db, cdr, 100_000)
    db.conn.execute("ANALYZE")
    day = T0 + 50_000 * 30
    indexed = {
        "first page": lambda: cdr.search(limit=50),
        "one day": lambda: cdr.search(start=day, end=day + 86400),
        "extension": lambda: cdr.search(extension="1042"),
        "extension in a week": lambda: cdr.search(extension="1042", start=day, end=day + 7 * 86400),
        "rare number fragment": lambda: cdr.search(number="12345"),
        "short number fragment": lambda: cdr.search(number="77"),
        "count by extension": lambda: cdr.count(extension="1042"),
        # The trigram index's weak spot: a fragment in a quarter of the rows (returns them all, then sorts).
        "common number fragment": lambda: cdr.search(number="104"),
    }
    timings = {name: _best_of(5, search) for name, search in indexed.items()}
    print({name: f"{seconds * 1000:.1f} ms" for name, seconds in timings.items()})
    # CPU time, so a loaded CI machine does not make the test flaky; indexed searches take ~1 ms here.
    assert max(timings.values()) < 0.1, timings
