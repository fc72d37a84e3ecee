"""Contacts: company phonebook and personal books, normalised numbers, search, caller-name lookup."""

from __future__ import annotations

import pytest

from appliance.store import ExtensionStore
from appliance.store.contacts import (
    Contact,
    ContactNumber,
    ContactStore,
    NoSuchContact,
    normalize_number,
)
from appliance.store.exceptions import InvalidValue


@pytest.fixture
def store(db, clock) -> ContactStore:
    extensions = ExtensionStore(db, clock=clock)
    extensions.add("1001", "Alice", "secret-1001")
    extensions.add("1002", "Bob", "secret-1002")
    return ContactStore(db, clock=clock)


def contact(first="Ann", last="Lee", number="+86 (10) 1234-5678", owner=None, **kw) -> Contact:
    return Contact(first_name=first, last_name=last, numbers=(ContactNumber(number),), owner=owner, **kw)


@pytest.mark.parametrize("typed, stored", [
    ("+86 (10) 1234-5678", "+861012345678"),
    ("010.1234.5678", "01012345678"),
    ("1001", "1001"),
    ("  555 / 0100 ", "5550100"),
])
def test_numbers_are_stored_without_separators(typed, stored):
    assert normalize_number(typed) == stored


@pytest.mark.parametrize("bad", ["", "abc", "1", "12+34", "+", "1" * 33, "12;34", "*61"])
def test_text_that_is_not_a_phone_number_is_refused(bad):
    with pytest.raises(InvalidValue) as err:
        normalize_number(bad)
    assert err.value.field == "number"


def test_a_contact_is_stored_with_normalised_numbers_and_trimmed_names(store):
    saved = store.add(contact(first="  Ann ", number="+86 10 1234 5678"))
    assert saved.id is not None
    again = store.get(saved.id, owner=None)
    assert again.first_name == "Ann" and again.numbers == (ContactNumber("+861012345678", "work"),)
    assert again.display_name == "Ann Lee"


def test_a_contact_needs_a_name_and_a_number(store):
    with pytest.raises(InvalidValue) as err:
        store.add(Contact(numbers=(ContactNumber("123"),)))
    assert err.value.field == "first_name"
    with pytest.raises(InvalidValue) as err:
        store.add(Contact(company="ACME"))
    assert err.value.field == "numbers"


def test_bad_email_and_bad_label_are_refused(store):
    with pytest.raises(InvalidValue) as err:
        store.add(contact(email="not an address"))
    assert err.value.field == "email"
    with pytest.raises(InvalidValue):
        store.add(Contact(first_name="A", numbers=(ContactNumber("123", "fax"),)))


def test_books_are_separate_a_contact_is_only_found_in_its_own_book(store):
    company = store.add(contact(first="Company"))
    mine = store.add(contact(first="Mine", owner="1001"))
    assert [c.first_name for c in store.search(owner=None).contacts] == ["Company"]
    assert [c.first_name for c in store.search(owner="1001").contacts] == ["Mine"]
    assert store.search(owner="1002").contacts == []
    with pytest.raises(NoSuchContact):
        store.get(mine.id, owner="1002")
    with pytest.raises(NoSuchContact):
        store.get(company.id, owner="1001")
    with pytest.raises(NoSuchContact):
        store.delete(mine.id, owner="1002")
    with pytest.raises(NoSuchContact):
        store.update(contact(first="Stolen", id=mine.id, owner="1002"))
    assert store.get(mine.id, owner="1001").first_name == "Mine"


def test_a_personal_contact_of_an_unknown_extension_is_refused(store):
    with pytest.raises(InvalidValue) as err:
        store.add(contact(owner="4711"))
    assert err.value.field == "owner"


def test_deleting_an_extension_deletes_its_personal_contacts(db, store):
    store.add(contact(owner="1002"))
    ExtensionStore(db).delete("1002")
    assert db.conn.execute("SELECT count(*) FROM contacts").fetchone()[0] == 0
    assert db.conn.execute("SELECT count(*) FROM contact_numbers").fetchone()[0] == 0


def test_update_replaces_names_and_numbers(store, clock):
    saved = store.add(contact())
    clock.now += 10
    changed = store.update(Contact(id=saved.id, first_name="Ann", last_name="Li", company="ACME",
                                   numbers=(ContactNumber("2000", "mobile"), ContactNumber("3000", "home"))))
    assert changed.last_name == "Li" and [n.number for n in changed.numbers] == ["2000", "3000"]
    assert changed.updated_at == saved.updated_at + 10


def test_delete_removes_the_contact(store):
    saved = store.add(contact())
    store.delete(saved.id, owner=None)
    with pytest.raises(NoSuchContact):
        store.get(saved.id, owner=None)


def test_search_matches_names_company_and_number_fragments_with_separators(store):
    store.add(contact(first="Ann", last="Lee", number="+86 10 1234 5678"))
    store.add(contact(first="Bo", last="Chen", number="555 0100", company="Acme_Ltd"))
    store.add(contact(first="Carl", last="100%", number="777"))

    def names(query: str) -> list[str]:
        return [c.first_name for c in store.search(owner=None, query=query).contacts]

    assert names("lee") == ["Ann"]
    assert names("ann lee") == ["Ann"]
    assert names("acme") == ["Bo"]
    assert names("1234-56") == ["Ann"]
    assert names("%") == ["Carl"]  # wildcards are literal
    assert names("_") == ["Bo"]
    assert names("nobody") == []


def test_search_pages_in_name_order_and_counts_the_total(store):
    store.add_many(contact(first=f"N{i:02d}", last="Same", number=f"10{i:02d}") for i in range(25))
    page = store.search(owner=None, limit=10, offset=20)
    assert page.total == 25 and [c.first_name for c in page.contacts] == [f"N{i}" for i in range(20, 25)]


def test_add_many_is_all_or_nothing(store):
    with pytest.raises(InvalidValue):
        store.add_many([contact(first="Good"), contact(first="Bad", number="x")])
    assert store.search(owner=None).total == 0


def test_caller_name_prefers_the_called_extensions_own_contact(store):
    store.add(contact(first="Company", last="Name", number="555-0100"))
    store.add(contact(first="My", last="Friend", number="5550100", owner="1001"))
    assert store.name_for_number("5550100", extension="1001") == "My Friend"
    assert store.name_for_number("555 0100", extension="1002") == "Company Name"
    assert store.name_for_number("999") is None
    assert store.name_for_number("anonymous") is None


def test_numbers_in_book_lists_one_books_numbers(store):
    store.add(contact(number="111"))
    store.add(contact(number="222", owner="1001"))
    assert store.numbers_in_book(None) == {"111"}
    assert store.numbers_in_book("1001") == {"222"}


def test_every_change_bumps_the_contacts_counter(store):
    before = store.version()
    saved = store.add(contact())
    store.delete(saved.id, owner=None)
    assert store.version() > before
