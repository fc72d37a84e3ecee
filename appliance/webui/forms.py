"""Form state for templates: what the user typed (shown again on error) and a message per field.

Views validate with the store's validators (which raise InvalidValue naming the field) and collect the
messages here; templates render each message next to its field (`templates/_forms.html`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from appliance.store.exceptions import InvalidValue

T = TypeVar("T")

#: Longest value kept from any text field (longer input is an error, never silently cut).
FIELD_MAX = 1000


class Form:
    """The submitted values (as strings) and the errors found, by field name."""

    def __init__(self, values: Mapping[str, Any] | None = None, *, checkboxes: Iterable[str] = ()) -> None:
        self.values: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        for key, value in (values or {}).items():
            self.values[key] = value
        for name in checkboxes:
            self.values[name] = _checked(self.values.get(name))

    @classmethod
    def from_request(cls, form: Any, names: Iterable[str], *, checkboxes: Iterable[str] = ()) -> Form:
        """Take `names` from a request's form (missing ones become ""); checkboxes become booleans."""
        boxes = list(checkboxes)
        values = {name: str(form.get(name, "")) for name in names}
        values.update({name: form.get(name) for name in boxes})
        result = cls(values, checkboxes=boxes)
        for name in names:
            if len(result.values[name]) > FIELD_MAX:
                result.error(name, f"must be at most {FIELD_MAX} characters")
        return result

    def get(self, name: str, default: Any = "") -> Any:
        return self.values.get(name, default)

    def text(self, name: str) -> str:
        return str(self.values.get(name) or "").strip()

    def error(self, name: str, message: str) -> None:
        """Record the first problem of a field (later ones are usually consequences)."""
        self.errors.setdefault(name, message)

    def check(self, name: str, validate: Callable[[], T], *, field_map: Mapping[str, str] | None = None) -> T | None:
        """Run `validate`; an InvalidValue becomes an error on `name` (or the field it names, mapped)."""
        try:
            return validate()
        except InvalidValue as err:
            target = (field_map or {}).get(err.field, name)
            self.error(target, _sentence(err.message))
            return None

    @property
    def ok(self) -> bool:
        return not self.errors


def _checked(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value or "").lower() in ("1", "on", "true", "yes")


def _sentence(message: str) -> str:
    return message[:1].upper() + message[1:] if message else message
