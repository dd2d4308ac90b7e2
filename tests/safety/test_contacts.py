"""Private contacts for safety confirmation: the person sets their own on /safety/contact/
(linked from the settings page); administrators import them from CSV (UTF-8 or cp932, a header
row or none) in the admin, all or nothing, with every bad row named; only administrators and
the person see an address."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from directory.models import AuditEntry, User
from safety import contacts, rounds
from safety.models import SafetyContact
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CONTACT_URL = "/safety/contact/"
IMPORT_URL = "/admin/safety/safetycontact/import/"


def test_the_settings_page_links_to_the_private_contact_page(client, staff_user):
    client.force_login(staff_user)

    page = client.get(reverse("settings")).content.decode()

    assert f'id="safety-contact" href="{CONTACT_URL}"' in page
    assert "安否確認用の連絡先（私用メール）" in page


def test_staff_set_change_and_remove_their_own_private_email(client, staff_user):
    client.force_login(staff_user)
    assert "本人と管理者だけ" in client.get(CONTACT_URL).content.decode()

    saved = client.post(CONTACT_URL, {"email": "  hanako@private.example "})
    contact = SafetyContact.objects.get(staff=staff_user.staff)
    assert saved.status_code == 302 and (contact.email, contact.source) == (
        "hanako@private.example",
        "self",
    )
    assert 'value="hanako@private.example"' in client.get(CONTACT_URL).content.decode()
    client.post(CONTACT_URL, {"email": "hanako2@private.example"})
    removed = client.post(CONTACT_URL, {"email": ""})

    assert removed.status_code == 302 and not SafetyContact.objects.exists()
    entries = AuditEntry.objects.filter(action__startswith="safety.contact").order_by("id")
    assert [(e.action, e.actor) for e in entries] == [
        ("safety.contact_set", staff_user),
        ("safety.contact_set", staff_user),
        ("safety.contact_remove", staff_user),
    ]
    assert not any("private.example" in str(e.data) for e in entries)  # never the address


def test_a_bad_address_is_refused_and_nothing_changes(client, staff_user):
    SafetyContact.objects.create(staff=staff_user.staff, email="old@private.example")
    client.force_login(staff_user)

    page = client.post(CONTACT_URL, {"email": "not-an-address"})

    assert (
        page.status_code == 200
        and "有効なメールアドレスを入力してください" in page.content.decode()
    )
    assert SafetyContact.objects.get().email == "old@private.example"


def test_an_account_without_staff_has_nothing_to_set(client):
    user = UserFactory()
    client.force_login(user)

    page = client.get(CONTACT_URL)
    posted = client.post(CONTACT_URL, {"email": "x@private.example"})

    assert (page.status_code, posted.status_code) == (404, 404)
    assert not SafetyContact.objects.exists()


def test_someone_else_cannot_set_a_persons_private_email(city):
    with pytest.raises(PermissionDenied):
        contacts.contact_set(
            staff=city.kita_staff[0], email="x@private.example", actor=city.ward_head
        )
    assert not SafetyContact.objects.exists()


def test_private_addresses_show_to_administrators_only(client, city, admin_user):
    SafetyContact.objects.create(staff=city.kita_staff[0], email="hanako@private.example")
    round_ = rounds.round_start(actor=city.mayor, title="安否確認", target={"all": True})
    url = reverse("safety:round_detail", args=[round_.pk])

    client.force_login(city.mayor)  # headquarters: the not-answered list, work contacts
    by_hq = client.get(url).content.decode()
    client.force_login(admin_user)
    by_admin = client.get(url).content.decode()

    assert city.kita_staff[0].full_name in by_hq and "hanako@private.example" not in by_hq
    assert "hanako@private.example" in by_admin


# --- the import -----------------------------------------------------------------------------
def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.replace("\n", "\r\n").encode(encoding)


def test_an_import_writes_every_row_in_utf8_with_a_header(city, admin_user):
    SafetyContact.objects.create(staff=city.kita_staff[0], email="old@private.example")
    a, b = city.kita_staff[0].employee_number, city.kita_staff[1].employee_number
    content = csv_bytes(f"職員番号,私用メール\n{a},new@private.example\n{b},b@private.example\n")

    result = contacts.contacts_import(filename="contacts.csv", content=content, actor=admin_user)

    assert (result.created, result.updated) == (1, 1)
    assert dict(SafetyContact.objects.values_list("staff__employee_number", "email")) == {
        a: "new@private.example",
        b: "b@private.example",
    }
    assert set(SafetyContact.objects.values_list("source", flat=True)) == {"import"}
    entry = AuditEntry.objects.get(action="safety.contacts_import")
    assert (entry.actor, entry.data) == (
        admin_user,
        {"file": "contacts.csv", "created": 1, "updated": 1},
    )


def test_an_import_reads_shift_jis_and_a_file_without_a_header(city, admin_user):
    a, b = city.chuo_staff[0].employee_number, city.chuo_staff[1].employee_number
    sjis = csv_bytes(f"職員番号,メールアドレス\n{a},a@private.example\n", "cp932")
    bare = csv_bytes(f"{b},b@private.example\n")

    contacts.contacts_import(filename="sjis.csv", content=sjis, actor=admin_user)
    contacts.contacts_import(filename="bare.csv", content=bare, actor=admin_user)

    assert SafetyContact.objects.get(staff=city.chuo_staff[0]).email == "a@private.example"
    assert SafetyContact.objects.get(staff=city.chuo_staff[1]).email == "b@private.example"


def test_a_bad_row_is_named_and_nothing_is_imported(city, admin_user):
    SafetyContact.objects.create(staff=city.kita_staff[0], email="old@private.example")
    a, b, c = (s.employee_number for s in city.kita_staff[:3])
    content = csv_bytes(
        "職員番号,私用メール\n"
        f"{a},new@private.example\n"  # row 2: fine
        "999999,x@private.example\n"  # row 3: nobody has this number
        f"{b},not-an-address\n"  # row 4: not an address
        f"{a},again@private.example\n"  # row 5: twice
        f"{c},\n",  # row 6: empty address
        "cp932",
    )

    with pytest.raises(contacts.ContactsImportInvalid) as exc:
        contacts.contacts_import(filename="bad.csv", content=content, actor=admin_user)

    assert [(e.row, e.column, e.message) for e in exc.value.errors] == [
        (3, "職員番号", "この職員番号の職員はいません。"),
        (4, "私用メール", "正しいメールアドレスを入力してください。"),
        (5, "職員番号", "この職員番号は 2 行目にもあります。"),
        (6, "私用メール", "必須項目です。"),
    ]
    assert SafetyContact.objects.get().email == "old@private.example"
    assert not AuditEntry.objects.filter(action="safety.contacts_import").exists()


def test_only_administrators_import(city):
    content = csv_bytes(f"{city.kita_staff[0].employee_number},a@private.example\n")
    with pytest.raises(PermissionDenied):
        contacts.contacts_import(filename="c.csv", content=content, actor=city.mayor)
    assert not SafetyContact.objects.exists()


def test_the_admin_import_page_lists_the_problems_then_imports(client, city, admin_user):
    client.force_login(admin_user)
    number = city.kita_staff[0].employee_number
    changelist = client.get("/admin/safety/safetycontact/").content.decode()
    assert f'href="{IMPORT_URL}"' in changelist

    bad = client.post(
        IMPORT_URL,
        {"file": SimpleUploadedFile("c.csv", csv_bytes(f"{number},nope\n"), "text/csv")},
    )
    assert bad.status_code == 400 and not SafetyContact.objects.exists()
    assert "何も取り込まれていません" in bad.content.decode() and "正しいメールアドレス" in (
        bad.content.decode()
    )
    good = client.post(
        IMPORT_URL,
        {"file": SimpleUploadedFile("c.csv", csv_bytes(f"{number},a@private.example\n"))},
    )

    assert good.status_code == 302 and SafetyContact.objects.get().email == "a@private.example"


def test_the_contact_admin_is_for_administrators_only(client, city):
    SafetyContact.objects.create(staff=city.kita_staff[0], email="hanako@private.example")
    superuser = UserFactory(role=User.Role.HQ_MEMBER)
    superuser.is_staff = superuser.is_superuser = True
    superuser.save()
    client.force_login(superuser)

    listing = client.get("/admin/safety/safetycontact/")
    page = client.post(
        IMPORT_URL,
        {"file": SimpleUploadedFile("c.csv", csv_bytes("100000,x@private.example\n"))},
    )

    assert (listing.status_code, page.status_code) == (403, 403)
    assert "hanako@private.example" not in client.get("/admin/").content.decode()
    assert SafetyContact.objects.count() == 1
