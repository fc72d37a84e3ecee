"""Per-caller voicemail rules and the contact groups they match callers by."""

from __future__ import annotations

import pytest

from appliance.store import ExtensionStore, initialize_database
from appliance.store.contact_groups import ContactGroups
from appliance.store.contacts import Contact, ContactNumber, ContactStore, NoSuchContact
from appliance.store.exceptions import InvalidValue
from appliance.voicemail.exceptions import InvalidMailboxValue, NoSuchMailbox
from appliance.voicemail.rules import CallerRules, NoSuchRule, RuleDecision, default_action, notification_address
from appliance.voicemail.storage import VoicemailStore


@pytest.fixture
def env(tmp_path):
    db = initialize_database(tmp_path / "pbx.sqlite3", seed=False)
    extensions = ExtensionStore(db)
    extensions.add("2001", "Alice", "secret-2001")
    extensions.add("2002", "Bob", "secret-2002")
    store = VoicemailStore(db, tmp_path / "voicemail", find_extension=extensions.find)
    store.create_shared("70000", "Sales", "2468")

    class Env:
        pass

    e = Env()
    e.db, e.store, e.rules, e.groups, e.contacts = db, store, CallerRules(db), ContactGroups(db), ContactStore(db)
    yield e
    db.conn.close()


def contact(env, number: str, owner: str | None = None, *groups: str) -> Contact:
    c = env.contacts.add(Contact(first_name="C", numbers=(ContactNumber(number),), owner=owner))
    for g in groups:
        env.groups.add(c.id, g)
    return c


# --- contact groups --------------------------------------------------------------------------------------


def test_contacts_join_and_leave_groups(env):
    c = contact(env, "+49 30 1234")
    env.groups.add(c.id, "Customers")
    env.groups.add(c.id, "customers")  # same group, any case
    env.groups.add(c.id, "VIP")
    assert env.groups.groups_of(c.id) == ["Customers", "VIP"]
    assert env.groups.remove(c.id, "vip") and not env.groups.remove(c.id, "vip")
    assert env.groups.set_groups(c.id, ["Suppliers", " Partners "]) == ["Partners", "Suppliers"]


def test_group_of_an_unknown_contact_or_a_bad_name_is_refused(env):
    with pytest.raises(NoSuchContact):
        env.groups.add(999, "Customers")
    c = contact(env, "12345")
    for bad in ("", "   ", "x" * 65, "a\nb"):
        with pytest.raises(InvalidValue):
            env.groups.add(c.id, bad)


def test_deleting_a_contact_removes_its_memberships(env):
    c = contact(env, "12345", None, "Customers")
    env.contacts.delete(c.id, owner=None)
    assert env.groups.members("Customers", owner=None) == []


def test_number_lookup_normalises_and_respects_whose_contact_it_is(env):
    company = contact(env, "+49 (30) 1234", None, "Customers")
    contact(env, "+49301234", "2001", "Friends")
    assert env.groups.groups_of_number("+49-30-1234", owner="2001") == {"customers", "friends"}
    assert env.groups.groups_of_number("+49301234", owner="2002") == {"customers"}  # Alice's contact is hers
    assert env.groups.groups_of_number("+49301234", owner=None) == {"customers"}
    assert env.groups.groups_of_number("anonymous", owner=None) == set()
    assert env.groups.members("customers", owner=None) == [company.id]
    assert env.groups.names(owner="2001") == ["Customers", "Friends"]
    assert env.groups.names(owner="2002") == ["Customers"]


def test_group_changes_move_the_contacts_change_counter(env):
    c = contact(env, "12345")
    before = env.contacts.version()
    env.groups.add(c.id, "Customers")
    assert env.contacts.version() > before


# --- rules: validation and order -----------------------------------------------------------------------


def test_rules_are_validated_with_clear_errors(env):
    cases = [
        (dict(match_kind="name", match_value="x", email_action="none"), "match_kind"),
        (dict(match_kind="number", match_value="abc", email_action="none"), "match_value"),
        (dict(match_kind="group", match_value="", email_action="none"), "match_value"),
        (dict(match_kind="number", match_value="12345", email_action="fax"), "email_action"),
        (dict(match_kind="number", match_value="12345", greeting="../etc/passwd"), "greeting"),
        (dict(match_kind="number", match_value="12345"), "greeting"),  # neither greeting nor action
    ]
    for kwargs, field in cases:
        with pytest.raises(InvalidMailboxValue) as err:
            env.rules.add("2001", kwargs.pop("match_kind"), kwargs.pop("match_value"), **kwargs)
        assert err.value.field == field
    with pytest.raises(NoSuchMailbox):
        env.rules.add("9999", "number", "12345", email_action="none")


def test_numbers_in_rules_are_stored_normalised(env):
    rule = env.rules.add("2001", "number", "+49 (30) 12-34", email_action="sms")
    assert rule.match_value == "+49301234"
    assert env.rules.add("2001", "number", "+49 30*", email_action="none").match_value == "+4930*"
    assert env.rules.add("2001", "number", "0*", email_action="none").match_value == "0*"
    assert env.rules.add("2001", "number", "*", email_action="none").match_value == "*"


def test_rules_are_added_updated_reordered_and_deleted(env):
    a = env.rules.add("2001", "number", "1111", email_action="none")
    b = env.rules.add("2001", "group", "Customers", greeting="customers")
    c = env.rules.add("2001", "number", "2222", email_action="sms", position=0)
    assert [r.id for r in env.rules.list("2001")] == [c.id, a.id, b.id]
    assert env.rules.update(b.id, email_action="attach").email_action == "attach"
    with pytest.raises(InvalidMailboxValue):
        env.rules.update(b.id, mailbox="2002")
    assert [r.id for r in env.rules.reorder("2001", [b.id, c.id, a.id])] == [b.id, c.id, a.id]
    with pytest.raises(InvalidMailboxValue):
        env.rules.reorder("2001", [b.id, c.id])
    env.rules.delete(c.id)
    assert [(r.id, r.position) for r in env.rules.list("2001")] == [(b.id, 0), (a.id, 1)]
    with pytest.raises(NoSuchRule):
        env.rules.delete(c.id)
    assert env.rules.list("2002") == []


# --- rules: decisions --------------------------------------------------------------------------------------


def test_without_rules_the_mailbox_options_decide(env):
    box = env.store.mailbox("2001")
    assert env.rules.decide(box, "12345") == RuleDecision(None, "attach")
    assert default_action(env.store.update("2001", attach_audio=False)) == "notice"
    assert default_action(env.store.update("2001", email_on_new=False)) == "none"


def test_a_rule_by_number_chooses_the_action_and_greeting(env):
    rule = env.rules.add("2001", "number", "+49301234", greeting="boss", email_action="sms")
    box = env.store.mailbox("2001")
    assert env.rules.decide(box, "+49 30 1234") == RuleDecision("boss", "sms", rule.id)
    assert env.rules.decide(box, "+49301235").email_action == "attach"
    assert env.rules.decide(box, "anonymous").email_action == "attach"
    assert env.rules.decide(box, None).email_action == "attach"


def test_a_prefix_rule_matches_every_number_starting_with_it(env):
    env.rules.add("2001", "number", "+86*", email_action="notice")
    box = env.store.mailbox("2001")
    assert env.rules.decide(box, "+8613800000000").email_action == "notice"
    assert env.rules.decide(box, "+4930").email_action == "attach"


def test_a_rule_by_contact_group_matches_company_and_own_contacts(env):
    contact(env, "+49301234", None, "Customers")
    contact(env, "5550000", "2001", "Family")
    contact(env, "5551111", "2002", "Family")  # Bob's contact, no concern of Alice's mailbox
    env.rules.add("2001", "group", "customers", greeting="customers", email_action="notice")
    env.rules.add("2001", "group", "Family", email_action="none")
    box = env.store.mailbox("2001")
    assert env.rules.decide(box, "+49301234") == RuleDecision("customers", "notice", env.rules.list("2001")[0].id)
    assert env.rules.decide(box, "5550000").email_action == "none"
    assert env.rules.decide(box, "5551111").email_action == "attach"


def test_a_shared_mailbox_sees_only_the_company_phonebook(env):
    contact(env, "+49301234", None, "Customers")
    contact(env, "5550000", "2001", "Customers")
    env.rules.add("70000", "group", "Customers", email_action="none")
    box = env.store.mailbox("70000")
    assert env.rules.decide(box, "+49301234").email_action == "none"
    assert env.rules.decide(box, "5550000").email_action == "attach"


def test_the_first_matching_rule_wins_and_open_fields_follow_the_mailbox(env):
    contact(env, "+49301234", None, "Customers")
    env.rules.add("2001", "group", "Customers", greeting="customers")  # greeting only
    env.rules.add("2001", "number", "+49301234", email_action="none")
    box = env.store.update("2001", attach_audio=False)
    decision = env.rules.decide(box, "+49301234")
    assert (decision.greeting, decision.email_action) == ("customers", "notice")


def test_mail_goes_to_the_extension_address_or_the_shared_mailbox_address(env):
    extensions = ExtensionStore(env.db)
    extensions.update("2001", email="alice@example.com")
    assert notification_address(env.store.mailbox("2001"), extensions.find("2001")) == "alice@example.com"
    assert notification_address(env.store.mailbox("2002"), extensions.find("2002")) is None
    env.store.update("70000", email="sales@example.com")
    assert notification_address(env.store.mailbox("70000"), None) == "sales@example.com"
