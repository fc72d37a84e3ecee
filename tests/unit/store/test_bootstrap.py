"""First creation: demo extensions are seeded once and only once."""

from __future__ import annotations

from appliance.store import ExtensionStore, demo_extensions, initialize_database
from appliance.store.bootstrap import SECRET_ALPHABET, generate_secret


def test_fresh_database_gets_three_demo_extensions_with_random_secrets(db_path) -> None:
    db = initialize_database(db_path)
    extensions = ExtensionStore(db).list()
    assert [(e.number, e.name) for e in extensions] == [
        ("1001", "Demo 1001"), ("1002", "Demo 1002"), ("1003", "Demo 1003"),
    ]
    secrets = {e.secret for e in extensions}
    assert len(secrets) == 3
    assert all(len(s) == 12 and set(s) <= set(SECRET_ALPHABET) for s in secrets)
    assert demo_extensions(db) == extensions


def test_reinitialising_keeps_secrets_and_does_not_recreate_deleted_demos(db_path) -> None:
    db = initialize_database(db_path)
    store = ExtensionStore(db)
    secret_1001 = store.get("1001").secret
    store.delete("1002")
    db.close()
    db = initialize_database(db_path)
    store = ExtensionStore(db)
    assert [e.number for e in store.list()] == ["1001", "1003"]
    assert store.get("1001").secret == secret_1001
    assert [e.number for e in demo_extensions(db)] == ["1001", "1003"]


def test_seeding_skips_a_demo_number_the_admin_already_used(db_path) -> None:
    db = initialize_database(db_path, seed=False)
    ExtensionStore(db).add("1002", "Reception", "reception-pw")
    db.close()
    db = initialize_database(db_path)
    assert ExtensionStore(db).get("1002").name == "Reception"
    assert len(ExtensionStore(db).list()) == 3


def test_generated_secrets_differ() -> None:
    assert len({generate_secret() for _ in range(50)}) == 50


def test_a_number_the_admin_took_before_seeding_is_not_called_a_demo(db_path) -> None:
    db = initialize_database(db_path, seed=False)
    ExtensionStore(db).add("1002", "Reception", "reception-pw")
    db.close()
    db = initialize_database(db_path)
    assert [e.number for e in demo_extensions(db)] == ["1001", "1003"]
