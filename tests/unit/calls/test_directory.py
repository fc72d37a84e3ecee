"""The in-memory extension directory follows the store's change counter."""

from __future__ import annotations

from appliance.calls.directory import ExtensionDirectory
from appliance.store import ExtensionStore, initialize_database


def test_directory_sees_changes_only_after_a_refresh(tmp_path):
    db = initialize_database(tmp_path / "pbx.sqlite3", seed=False)
    store = ExtensionStore(db)
    store.add("2001", "Alice", "secret-2001")
    directory = ExtensionDirectory(store)
    assert directory.find("2001").name == "Alice"

    store.add("2002", "Bob", "secret-2002")
    store.update("2001", name="Alice B.")
    assert directory.find("2002") is None  # not yet: lookups never touch the database
    assert directory.refresh() is True
    assert directory.find("2002").name == "Bob" and directory.find("2001").name == "Alice B."
    assert directory.refresh() is False

    store.delete("2002")
    directory.refresh()
    assert directory.find("2002") is None and [e.number for e in directory.list()] == ["2001"]
