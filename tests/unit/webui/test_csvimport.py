"""CSV import planning: layouts people really upload, and a reason for every rejected row."""

from __future__ import annotations

import pytest

from appliance.webui.csvimport import CsvFileError, check_upload, plan_import


def test_rows_of_first_name_last_name_and_numbers_become_contacts():
    plan = plan_import("Ann,Lee,+86 10 1234 5678,138 0013 8000\nBo,Chen,555-0100\n", owner=None)
    assert plan.rejected == []
    ann, bo = plan.contacts
    assert [(n.label, n.number) for n in ann.numbers] == [("work", "+861012345678"), ("mobile", "13800138000")]
    assert bo.last_name == "Chen" and bo.numbers[0].number == "5550100"


def test_a_header_line_is_skipped():
    plan = plan_import("First name,Last name,Number\nAnn,Lee,123456\n", owner="1001")
    assert plan.header_skipped and len(plan.contacts) == 1 and plan.contacts[0].owner == "1001"


def test_semicolons_and_tabs_separate_as_well():
    assert len(plan_import("Ann;Lee;123456\nBo;Chen;654321\n", owner=None).contacts) == 2
    assert len(plan_import("Ann\tLee\t123456\nBo\tChen\t654321\n", owner=None).contacts) == 2


def test_several_numbers_in_one_cell():
    plan = plan_import('Ann,Lee,"123456; 654321"\n', owner=None)
    assert [n.number for n in plan.contacts[0].numbers] == ["123456", "654321"]


def test_rejected_rows_name_their_line_and_reason():
    plan = plan_import(
        "Ann,Lee,123456\n"
        "Bad,Number,12ab34\n"
        "\n"
        "Only,Two\n"
        ",,5550100\n"
        "Dup,Licate,123 456\n"
        "No,Number,\n",
        owner=None, existing_numbers={"999"},
    )
    assert len(plan.contacts) == 1
    reasons = {row.line: row.reason for row in plan.rejected}
    assert "not a phone number" in reasons[2]
    assert "three columns" in reasons[4]
    assert "name" in reasons[5]
    assert "already in this phonebook" in reasons[6]
    assert reasons[7] == "no number"


def test_numbers_already_in_the_book_are_rejected():
    plan = plan_import("Ann,Lee,555-0100\n", owner=None, existing_numbers={"5550100"})
    assert plan.contacts == [] and "already" in plan.rejected[0].reason


def test_too_many_rows_stop_the_import_with_a_message():
    plan = plan_import("".join(f"N{i},X,{100000 + i}\n" for i in range(5)), owner=None, max_rows=3)
    assert len(plan.contacts) == 3 and "more than 3 rows" in plan.rejected[0].reason


def test_check_upload_accepts_utf8_csv_with_bom():
    assert check_upload("book.csv", "text/csv", "\ufeffÄnn,Lee,1234".encode(), max_bytes=100) == "Änn,Lee,1234"


@pytest.mark.parametrize("name, kind, data, message", [
    ("book.xlsx", "application/vnd.ms-excel", b"a,b,1", ".csv"),
    ("book.csv", "image/png", b"a,b,1", "not a CSV"),
    ("book.csv", "text/csv", b"a" * 200, "larger"),
    ("book.csv", "text/csv", b"  \n", "empty"),
    ("book.csv", "text/csv", b"a,b\x00,1", "not a text"),
    ("book.csv", "text/csv", "Änn,Lee,1".encode("latin-1"), "UTF-8"),
])
def test_check_upload_refuses_wrong_files(name, kind, data, message):
    with pytest.raises(CsvFileError) as err:
        check_upload(name, kind, data, max_bytes=100)
    assert message in str(err.value)
