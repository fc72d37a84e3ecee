"""Domain errors of the persistent store (mapped to messages by the CLI and the web UI)."""

from __future__ import annotations

from appliance.errors import ApplianceError


class StoreError(ApplianceError):
    """Base of every error the store raises on purpose."""


class ExtensionExists(StoreError):
    """An extension with this number already exists."""

    def __init__(self, number: str) -> None:
        super().__init__(f"extension {number} already exists")
        self.number = number


class NoSuchExtension(StoreError):
    """No extension has this number."""

    def __init__(self, number: str) -> None:
        super().__init__(f"no extension {number}")
        self.number = number


class NoSuchCallRecord(StoreError):
    """No call-detail record has this id."""

    def __init__(self, record_id: int) -> None:
        super().__init__(f"no call record {record_id}")
        self.record_id = record_id


class InvalidValue(StoreError):
    """A field failed validation; `field` names it so a form can highlight it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SchemaTooNew(StoreError):
    """The database was migrated by newer code than this one; refusing to touch it."""

    def __init__(self, database_version: int, code_version: int) -> None:
        super().__init__(
            f"the database schema is at version {database_version} but this software only knows "
            f"versions up to {code_version}; it was written by a newer release - upgrade the "
            "software or restore a backup made by this release"
        )
        self.database_version = database_version
        self.code_version = code_version


class MigrationFailed(StoreError):
    """A migration raised; its transaction was rolled back and the schema is unchanged."""

    def __init__(self, number: int, description: str, cause: BaseException) -> None:
        super().__init__(f"migration {number} ({description}) failed: {cause}")
        self.number = number
        self.description = description
