"""Registration bindings: persistence across restarts, replacement, expiry."""

from __future__ import annotations

import pytest

from appliance.store import (
    Binding,
    ExtensionStore,
    NoSuchExtension,
    RegistrationStore,
    open_database,
)


@pytest.fixture
def regs(db, clock) -> RegistrationStore:
    extensions = ExtensionStore(db, clock=clock)
    extensions.add("1001", "Alice", "s3cret-pw")
    extensions.add("1002", "Bob", "s3cret-pw")
    return RegistrationStore(db, clock=clock)


def _binding(aor: str = "1001", contact: str = "sip:1001@192.0.2.10:5062", **extra) -> Binding:
    values = {
        "expires_at": 1_700_003_600.0,
        "call_id": "abc@192.0.2.10",
        "cseq": 7,
        **extra,
    }
    return Binding(aor=aor, contact=contact, **values)


def test_bindings_survive_closing_and_reopening_the_database(regs, db_path) -> None:
    full = _binding(
        instance_id="<urn:uuid:00000000-0000-1000-8000-000a95a0e128>",
        reg_id=1,
        q=0.7,
        received="udp:192.0.2.10:40000",
        path=("<sip:edge1.example;lr>", "<sip:edge2.example;lr>"),
        user_agent="Yealink T46U",
    )
    regs.upsert(full)
    regs.upsert(_binding(aor="1002", contact="sips:1002@192.0.2.11"))
    reopened = RegistrationStore(open_database(db_path))
    loaded = {(b.aor, b.contact): b for b in reopened.load_all()}
    assert len(loaded) == 2
    assert loaded[("1001", full.contact)] == Binding(**{**full.__dict__, "updated_at": 1_700_000_000.0})


def test_upsert_refreshes_an_existing_binding(regs, clock) -> None:
    regs.upsert(_binding(cseq=1))
    clock.now += 30
    regs.upsert(_binding(cseq=2, expires_at=1_700_007_200.0))
    [binding] = regs.load_all()
    assert (binding.cseq, binding.expires_at, binding.updated_at) == (2, 1_700_007_200.0, clock.now)


def test_several_contacts_per_extension(regs) -> None:
    regs.upsert(_binding(contact="sip:desk@192.0.2.10"))
    regs.upsert(_binding(contact="sip:mobile@198.51.100.7"))
    assert {b.contact for b in regs.for_aor("1001")} == {"sip:desk@192.0.2.10", "sip:mobile@198.51.100.7"}


def test_remove_deletes_one_contact(regs) -> None:
    regs.upsert(_binding(contact="sip:a@h"))
    regs.upsert(_binding(contact="sip:b@h"))
    assert regs.remove("1001", "sip:a@h") is True
    assert regs.remove("1001", "sip:a@h") is False
    assert [b.contact for b in regs.load_all()] == ["sip:b@h"]


def test_remove_all_clears_one_aor_only(regs) -> None:
    regs.upsert(_binding(contact="sip:a@h"))
    regs.upsert(_binding(contact="sip:b@h"))
    regs.upsert(_binding(aor="1002", contact="sip:c@h"))
    assert regs.remove_all("1001") == 2
    assert [b.aor for b in regs.load_all()] == ["1002"]


def test_replace_makes_the_given_set_complete(regs) -> None:
    regs.upsert(_binding(contact="sip:old@h"))
    regs.replace("1001", [_binding(contact="sip:new1@h"), _binding(contact="sip:new2@h")])
    assert [b.contact for b in regs.for_aor("1001")] == ["sip:new1@h", "sip:new2@h"]


def test_purge_expired_removes_bindings_at_or_before_now(regs) -> None:
    regs.upsert(_binding(contact="sip:gone@h", expires_at=100.0))
    regs.upsert(_binding(contact="sip:edge@h", expires_at=200.0))
    regs.upsert(_binding(contact="sip:alive@h", expires_at=300.0))
    assert regs.purge_expired(200.0) == 2
    assert [b.contact for b in regs.load_all()] == ["sip:alive@h"]


def test_binding_for_unknown_extension_is_refused(regs) -> None:
    with pytest.raises(NoSuchExtension):
        regs.upsert(_binding(aor="7777"))


def test_deleting_an_extension_deletes_its_bindings(regs, db) -> None:
    regs.upsert(_binding())
    ExtensionStore(db).delete("1001")
    assert regs.load_all() == []
