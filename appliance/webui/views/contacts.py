"""Contacts: the company phonebook (everyone reads it, the administrator and operator extensions edit it) and
personal contacts (the owner, the administrator and operators only): list, search, add, edit, delete,
one-click call, CSV import."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from appliance.store import transaction
from appliance.store.contact_groups import GROUPS_PER_CONTACT_MAX, ContactGroups, validate_group_name
from appliance.store.contacts import (
    NUMBER_LABELS,
    Contact,
    ContactNumber,
    NoSuchContact,
    normalize_number,
    validate_contact,
)
from appliance.store.exceptions import InvalidValue
from appliance.webui import csvimport
from appliance.webui import db as webdb
from appliance.webui.forms import Form
from appliance.webui.security import User, current_user, login_required

log = logging.getLogger(__name__)

bp = Blueprint("contacts", __name__, url_prefix="/contacts")

PAGE_SIZE = 50
FIELDS = ["first_name", "last_name", "company", "email", *[f"number_{label}" for label in NUMBER_LABELS], "groups"]


@dataclass(frozen=True)
class Book:
    """Which book a request addresses, and what the user may do with it."""

    kind: str  # "company" or "personal"
    owner: str | None  # None: company phonebook
    editable: bool
    title: str

    def args(self) -> dict[str, str]:
        return {"book": self.kind, **({"owner": self.owner} if self.kind == "personal" and self.owner else {})}


def resolve_book(user: User) -> Book | None:
    """The book named by ?book=&owner=, checked against the user; 403 when it is not theirs to see.

    Contact keepers (the administrator and operator extensions, FEATURES §6) edit the company phonebook and
    may open any extension's personal contacts; everybody else reads the company phonebook and keeps their
    own. None: the administrator asked for personal contacts without choosing whose (an operator without a
    choice gets their own, like any extension).
    """
    kind = request.values.get("book") or ("company" if user.is_admin else "personal")
    if kind == "company":
        return Book("company", None, user.keeps_contacts, "Company phonebook")
    if kind != "personal":
        abort(404)
    owner = request.values.get("owner") or None
    if owner is None or owner == user.extension:
        if user.extension is None:
            return None
        return Book("personal", user.extension, True, "My contacts")
    if not user.keeps_contacts:
        log.warning("extension %s asked for the contacts of %s", user.extension, owner)
        abort(403)
    ext = webdb.extensions().find(owner)
    if ext is None:
        abort(404)
    if not user.is_admin:
        log.info("operator %s opened the personal contacts of %s", user.extension, owner)
    return Book("personal", owner, True, f"Personal contacts of {ext.number} {ext.name}")


def _book_or_403(user: User, *, edit: bool) -> Book:
    book = resolve_book(user)
    if book is None:
        abort(404)
    if edit and not book.editable:
        abort(403, description="Only the administrator and operators edit the company phonebook.")
    return book


def _page_number() -> int:
    try:
        return max(1, min(100_000, int(request.args.get("page", "1"))))
    except ValueError:
        return 1


@bp.route("/", endpoint="index")
@login_required
def index():  # noqa: ANN201
    user = current_user()
    book = resolve_book(user)
    query = request.args.get("q", "").strip()[:100]
    page_number = _page_number()
    page = None
    if book is not None:
        page = webdb.contacts().search(owner=book.owner, query=query, limit=PAGE_SIZE,
                                       offset=(page_number - 1) * PAGE_SIZE)
    owners = webdb.extensions().list() if user.keeps_contacts else []
    groups = ContactGroups(webdb.get_db())
    contact_groups = {c.id: groups.groups_of(int(c.id)) for c in page.contacts} if page is not None else {}
    return render_template("contacts/index.html", book=book, page=page, query=query, page_number=page_number,
                           page_size=PAGE_SIZE, owners=owners, labels=NUMBER_LABELS,
                           chosen_owner=request.args.get("owner", ""), contact_groups=contact_groups)


def _form_from_contact(contact: Contact) -> Form:
    values: dict[str, Any] = {"first_name": contact.first_name, "last_name": contact.last_name,
                              "company": contact.company, "email": contact.email or ""}
    for number in contact.numbers:
        key = f"number_{number.label}"
        if not values.get(key):
            values[key] = number.number
    values["groups"] = ", ".join(ContactGroups(webdb.get_db()).groups_of(int(contact.id or 0)))
    return Form({name: values.get(name, "") for name in FIELDS})


def _groups_from_form(form: Form) -> list[str]:
    """The comma-separated "Groups" field as names (voicemail caller rules match callers by them)."""
    names = []
    for part in form.text("groups").split(","):
        if part.strip():
            name = form.check("groups", lambda p=part: validate_group_name(p))
            if name is not None and name.casefold() not in {n.casefold() for n in names}:
                names.append(name)  # the first spelling of a name wins
    if len(names) > GROUPS_PER_CONTACT_MAX:
        form.error("groups", f"A contact can be in at most {GROUPS_PER_CONTACT_MAX} groups.")
    return names


def _save(contact: Contact, groups: list[str]) -> Contact:
    """Store the contact and its groups in one transaction (a bad group must not leave half a contact)."""
    store = webdb.contacts()
    with transaction(webdb.get_db()):
        saved = store.update(contact) if contact.id is not None else store.add(contact)
        ContactGroups(webdb.get_db()).set_groups(int(saved.id or contact.id or 0), groups)
    return saved


def _contact_from_form(form: Form, book: Book, contact_id: int | None) -> Contact | None:
    numbers = []
    for label in NUMBER_LABELS:
        raw = form.text(f"number_{label}")
        if raw:
            numbers.append(ContactNumber(raw, label))
    contact = Contact(first_name=form.text("first_name"), last_name=form.text("last_name"),
                      company=form.text("company"), email=form.text("email") or None,
                      numbers=tuple(numbers), owner=book.owner, id=contact_id)
    # Check each number on its own so the message sits next to the right field.
    for number in numbers:
        form.check(f"number_{number.label}", lambda n=number: normalize_number(n.number))
    if not numbers:
        form.error("number_work", "Give at least one number.")
    if not form.ok:
        return None
    return form.check("first_name", lambda: validate_contact(contact),
                      field_map={"first_name": "first_name", "last_name": "last_name", "company": "company",
                                 "email": "email", "numbers": "number_work"})


@bp.route("/new", methods=["GET", "POST"], endpoint="new")
@login_required
def new():  # noqa: ANN201
    book = _book_or_403(current_user(), edit=True)
    form = Form({name: request.args.get(name, "") for name in FIELDS})
    if request.method == "POST":
        form = Form.from_request(request.form, FIELDS)
        groups = _groups_from_form(form)
        contact = _contact_from_form(form, book, None)
        if contact is not None:
            _save(contact, groups)
            flash(f"Contact {contact.display_name} added.", "success")
            return redirect(url_for("contacts.index", **book.args()))
    return render_template("contacts/form.html", form=form, book=book, contact=None,
                           labels=NUMBER_LABELS), 400 if form.errors else 200


@bp.route("/<int:contact_id>/edit", methods=["GET", "POST"], endpoint="edit")
@login_required
def edit(contact_id: int):  # noqa: ANN201
    book = _book_or_403(current_user(), edit=True)
    try:
        existing = webdb.contacts().get(contact_id, owner=book.owner)
    except NoSuchContact:
        abort(404)
    form = _form_from_contact(existing)
    if request.method == "POST":
        form = Form.from_request(request.form, FIELDS)
        groups = _groups_from_form(form)
        contact = _contact_from_form(form, book, contact_id)
        if contact is not None:
            _save(contact, groups)
            flash(f"Contact {contact.display_name} saved.", "success")
            return redirect(url_for("contacts.index", **book.args()))
    return render_template("contacts/form.html", form=form, book=book, contact=existing,
                           labels=NUMBER_LABELS), 400 if form.errors else 200


@bp.route("/<int:contact_id>/delete", methods=["POST"], endpoint="delete")
@login_required
def delete(contact_id: int):  # noqa: ANN201
    book = _book_or_403(current_user(), edit=True)
    try:
        webdb.contacts().delete(contact_id, owner=book.owner)
    except NoSuchContact:
        abort(404)
    flash("Contact deleted.", "success")
    return redirect(url_for("contacts.index", **book.args()))


@bp.route("/import", methods=["GET", "POST"], endpoint="import_csv")
@login_required
def import_csv():  # noqa: ANN201
    book = _book_or_403(current_user(), edit=True)
    form, plan, imported = Form(), None, 0
    if request.method == "POST":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            form.error("file", "Choose a CSV file.")
        else:
            limit = int(current_app.config["CSV_MAX_BYTES"])
            data = upload.stream.read(limit + 1)
            try:
                text = csvimport.check_upload(upload.filename, upload.mimetype or "", data, max_bytes=limit)
            except csvimport.CsvFileError as err:
                form.error("file", str(err))
            else:
                store = webdb.contacts()
                plan = csvimport.plan_import(text, owner=book.owner,
                                             existing_numbers=store.numbers_in_book(book.owner),
                                             max_rows=int(current_app.config["CSV_MAX_ROWS"]))
                try:
                    imported = len(store.add_many(plan.contacts)) if plan.contacts else 0
                except InvalidValue as err:  # validated per row already; a race with an extension delete
                    form.error("file", str(err))
                log.info("CSV import into %s: %d imported, %d rejected", book.title, imported,
                         len(plan.rejected))
    status = 400 if form.errors else 200
    return render_template("contacts/import.html", form=form, book=book, plan=plan, imported=imported), status
