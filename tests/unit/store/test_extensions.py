"""Extensions: CRUD, validation, and the change counter the daemon polls."""

from __future__ import annotations

import pytest

from appliance.errors import ApplianceError
from appliance.store import ExtensionExists, ExtensionStore, InvalidValue, NoSuchExtension, open_database
from appliance.store.extensions import validate_fields


@pytest.fixture
def store(db, clock) -> ExtensionStore:
    return ExtensionStore(db, clock=clock)


def test_added_extension_can_be_read_back_with_all_fields(store, clock) -> None:
    added = store.add("2001", "Alice", "s3cret-pw", email="alice@example.com", department="Sales")
    got = store.get("2001")
    assert got == added
    assert (got.name, got.secret, got.email, got.department, got.enabled) == (
        "Alice", "s3cret-pw", "alice@example.com", "Sales", True,
    )
    assert got.created_at == got.updated_at == clock.now


def test_adding_an_existing_number_raises_extension_exists(store) -> None:
    store.add("2001", "Alice", "s3cret-pw")
    with pytest.raises(ExtensionExists, match="extension 2001 already exists"):
        store.add("2001", "Bob", "other-pw1")
    assert store.get("2001").name == "Alice"


def test_list_is_in_numeric_order(store) -> None:
    for number in ("10001", "2002", "99", "2001"):
        store.add(number, f"User {number}", "s3cret-pw")
    assert [e.number for e in store.list()] == ["99", "2001", "2002", "10001"]


def test_update_changes_only_the_given_fields_and_stamps_updated_at(store, clock) -> None:
    store.add("2001", "Alice", "s3cret-pw", email="alice@example.com")
    clock.now += 60
    updated = store.update("2001", name="Alice Smith", enabled=False)
    assert updated.name == "Alice Smith"
    assert updated.enabled is False
    assert updated.email == "alice@example.com"
    assert updated.updated_at == clock.now
    assert updated.created_at == clock.now - 60


def test_update_with_empty_email_clears_it(store) -> None:
    store.add("2001", "Alice", "s3cret-pw", email="alice@example.com")
    assert store.update("2001", email="").email is None


def test_update_and_delete_of_unknown_number_raise_no_such_extension(store) -> None:
    with pytest.raises(NoSuchExtension, match="no extension 4040"):
        store.update("4040", name="x")
    with pytest.raises(NoSuchExtension):
        store.delete("4040")
    with pytest.raises(NoSuchExtension):
        store.get("4040")
    assert store.find("4040") is None


def test_update_refuses_unknown_or_fixed_fields(store) -> None:
    store.add("2001", "Alice", "s3cret-pw")
    with pytest.raises(InvalidValue) as info:
        store.update("2001", number="2002")
    assert info.value.field == "number"


def test_deleted_extension_is_gone(store) -> None:
    store.add("2001", "Alice", "s3cret-pw")
    store.delete("2001")
    assert store.list() == []


@pytest.mark.parametrize(
    "number",
    ["1", "0123", "*12", "123456789", "12a", "", " 123", "１２３"],
)
def test_invalid_numbers_are_refused(store, number: str) -> None:
    with pytest.raises(InvalidValue) as info:
        store.add(number, "Name", "s3cret-pw")
    assert info.value.field == "number"


@pytest.mark.parametrize("number", ["10", "1001", "12345678"])
def test_valid_numbers_are_accepted(store, number: str) -> None:
    assert store.add(number, "Name", "s3cret-pw").number == number


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 65}, "name"),
        ({"name": "tab\there"}, "name"),
        ({"secret": "short1"}, "secret"),
        ({"secret": "has space1"}, "secret"),
        ({"secret": 'quote"d-pw'}, "secret"),
        ({"secret": "quote'd-pw"}, "secret"),
        ({"secret": "naïve-secret"}, "secret"),
        ({"email": "not-an-address"}, "email"),
        ({"email": "a@b"}, "email"),
        ({"email": "two@@example.com"}, "email"),
        ({"department": "d" * 65}, "department"),
    ],
)
def test_invalid_values_name_the_field(store, fields: dict, bad_field: str) -> None:
    values = {"name": "Alice", "secret": "s3cret-pw", **fields}
    with pytest.raises(InvalidValue) as info:
        store.add("2001", values.pop("name"), values.pop("secret"), **values)
    assert info.value.field == bad_field
    assert isinstance(info.value, ApplianceError)
    assert store.find("2001") is None


def test_names_are_trimmed_and_64_characters_are_allowed(store) -> None:
    assert store.add("2001", "  Alice  ", "s3cret-pw").name == "Alice"
    assert store.add("2002", "x" * 64, "s3cret-pw").name == "x" * 64


def test_validate_fields_can_check_a_form_without_a_database() -> None:
    assert validate_fields(number="2001", email=" a@example.com ") == {"number": "2001", "email": "a@example.com"}
    with pytest.raises(InvalidValue):
        validate_fields(secret="short")


def test_version_increases_on_every_write_including_other_connections(store, db_path) -> None:
    v0 = store.version()
    store.add("2001", "Alice", "s3cret-pw")
    v1 = store.version()
    other = ExtensionStore(open_database(db_path))
    other.update("2001", name="Alicia")
    v2 = store.version()
    other.delete("2001")
    v3 = store.version()
    assert v0 < v1 < v2 < v3


def test_failed_write_does_not_change_version(store) -> None:
    store.add("2001", "Alice", "s3cret-pw")
    before = store.version()
    with pytest.raises(ExtensionExists):
        store.add("2001", "Again", "s3cret-pw")
    assert store.version() == before
