"""The admin pages of the bulk import: upload → preview → apply, for administrators only."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import translation

from directory import importing
from directory.admin_import import MSG_APPLIED
from directory.importing import import_preview
from directory.models import AuditEntry, ImportJob, OrgUnit, Staff, User
from tests.directory.test_import import csv_bytes, row
from tests.factories import OrgUnitFactory, UserFactory

pytestmark = pytest.mark.django_db

UPLOAD_URL = "/admin/directory/importjob/upload/"


@pytest.fixture
def unit() -> OrgUnit:
    return OrgUnitFactory(code="K001")


@pytest.fixture
def admin_client(admin_user) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.fixture
def hq_admin_site_user(db) -> User:
    """An HQ member who somehow has admin-site access (is_staff and superuser) but not the role."""
    user = UserFactory(role=User.Role.HQ_MEMBER)
    user.is_staff = user.is_superuser = True
    user.save()
    return user


def upload(
    client: Client,
    content: bytes,
    *,
    name: str = "名簿.csv",
    kind: str = "staff",
    deactivate_missing: bool = False,
):
    data = {"kind": kind, "file": SimpleUploadedFile(name, content, content_type="text/csv")}
    if deactivate_missing:
        data["deactivate_missing"] = "on"
    return client.post(UPLOAD_URL, data)


def preview_url(job: ImportJob) -> str:
    return reverse("admin:directory_importjob_preview", args=[job.pk])


def apply_url(job: ImportJob) -> str:
    return reverse("admin:directory_importjob_apply", args=[job.pk])


def test_changelist_links_to_the_upload_page(admin_client):
    response = admin_client.get(reverse("admin:directory_importjob_changelist"))

    assert response.status_code == 200
    assert f'href="{UPLOAD_URL}"' in response.content.decode()
    assert reverse("admin:directory_importjob_upload") == UPLOAD_URL


def test_upload_page_renders_the_form(admin_client):
    response = admin_client.get(UPLOAD_URL)

    assert response.status_code == 200
    body = response.content.decode()
    assert 'enctype="multipart/form-data"' in body
    assert 'name="deactivate_missing"' in body
    assert 'name="csrfmiddlewaretoken"' in body


def test_upload_preview_apply(admin_client, admin_user, unit):
    staff_before = Staff.objects.count()  # the admin's own staff row

    response = upload(admin_client, csv_bytes([row(1), row(2)], encoding="cp932"))

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == preview_url(job)
    assert (job.status, job.encoding, job.uploaded_by) == ("previewed", "cp932", admin_user)
    assert Staff.objects.count() == staff_before

    page = admin_client.get(preview_url(job))
    body = page.content.decode()
    assert page.status_code == 200
    with translation.override("ja"):
        assert f"{translation.gettext('To create')}: 2" in body  # 新規作成: 2
    assert "200002" in body and "佐藤 花子2" in body
    assert f'action="{apply_url(job)}"' in body

    response = admin_client.post(apply_url(job), follow=True)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.APPLIED
    assert Staff.objects.count() == staff_before + 2
    assert str(MSG_APPLIED) in response.content.decode()
    assert AuditEntry.objects.filter(action="import.apply", actor=admin_user).count() == 1
    assert 'data-status="applied"' in response.content.decode()
    assert f'action="{apply_url(job)}"' not in response.content.decode()


def test_preview_lists_every_error_and_apply_is_refused(admin_client, unit):
    rows = [row(1), row(2, unit_code="NOPE"), row(3, email="bad@"), row(4)]
    upload(admin_client, csv_bytes(rows))
    job = ImportJob.objects.get()

    body = admin_client.get(preview_url(job)).content.decode()
    assert job.status == ImportJob.Status.INVALID
    assert f"<td>3</td><td>所属コード</td><td>{importing.ERR_UNKNOWN_UNIT}</td>" in body
    assert f"<td>4</td><td>メール</td><td>{importing.ERR_BAD_EMAIL}</td>" in body
    assert f'action="{apply_url(job)}"' not in body

    response = admin_client.post(apply_url(job), follow=True)

    assert str(importing.ERR_JOB_INVALID) in response.content.decode()
    assert not Staff.objects.filter(employee_number__startswith="2000").exists()
    assert not AuditEntry.objects.filter(action="import.apply").exists()


def test_errors_download(admin_client, unit):
    upload(admin_client, csv_bytes([row(1, unit_code="NOPE")]))
    job = ImportJob.objects.get()

    response = admin_client.get(reverse("admin:directory_importjob_errors", args=[job.pk]))

    assert response.status_code == 200
    assert response.content.decode("utf-8-sig").splitlines()[1] == (
        f"2,所属コード,{importing.ERR_UNKNOWN_UNIT}"
    )


def test_file_over_the_limit_is_refused_on_the_form(admin_client, unit):
    with override_settings(HONBU_IMPORT_MAX_BYTES=1024 * 1024):
        response = upload(admin_client, b"x" * (1024 * 1024 + 1))

    assert response.status_code == 200
    assert str(importing.ERR_FILE_TOO_LARGE) % {"max_mb": "1"} in response.content.decode()
    assert ImportJob.objects.count() == 0


def test_units_upload(admin_client):
    content = csv_bytes(
        [["S1", "防災課", "", "課", "C1"], ["C1", "本部市", "", "市", ""]],
        header=["所属コード", "名称", "よみ", "種別", "上位所属コード"],
    )
    upload(admin_client, content, name="units.csv", kind="units")
    job = ImportJob.objects.get()

    admin_client.post(apply_url(job))

    assert OrgUnit.objects.get(code="S1").parent == OrgUnit.objects.get(code="C1")


def test_apply_needs_post_and_a_csrf_token(admin_user, unit):
    job = import_preview(
        kind="staff",
        filename="r.csv",
        content=csv_bytes([row(1)]),
        deactivate_missing=False,
        uploaded_by=admin_user,
    )
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    assert client.get(apply_url(job)).status_code == 405
    assert client.post(apply_url(job)).status_code == 403

    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEWED
    assert not Staff.objects.filter(employee_number="200001").exists()


# --- permissions -----------------------------------------------------------------------------
@pytest.mark.parametrize("user_fixture", ["staff_user", "hq_user"])
def test_users_without_admin_site_access_cannot_reach_the_import(
    request, user_fixture, admin_user, unit
):
    job = import_preview(
        kind="staff",
        filename="r.csv",
        content=csv_bytes([row(1)]),
        deactivate_missing=False,
        uploaded_by=admin_user,
    )
    client = Client()
    client.force_login(request.getfixturevalue(user_fixture))

    for response in (
        client.get(UPLOAD_URL, follow=True),
        upload(client, csv_bytes([row(2)])),
        client.get(preview_url(job), follow=True),
        client.post(apply_url(job), follow=True),
    ):
        assert response.status_code in (302, 403)
        assert response.status_code == 403 or "/admin/login/" in response["Location"]
    assert client.get(UPLOAD_URL, follow=True).status_code == 403

    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEWED
    assert ImportJob.objects.count() == 1
    assert not Staff.objects.filter(employee_number__in=["200001", "200002"]).exists()


def test_admin_site_user_without_the_admin_role_is_denied(hq_admin_site_user, admin_user, unit):
    job = import_preview(
        kind="staff",
        filename="r.csv",
        content=csv_bytes([row(1)]),
        deactivate_missing=False,
        uploaded_by=admin_user,
    )
    client = Client()
    client.force_login(hq_admin_site_user)

    assert client.get(UPLOAD_URL).status_code == 403
    assert upload(client, csv_bytes([row(2)])).status_code == 403
    assert client.get(preview_url(job)).status_code == 403
    assert client.post(apply_url(job)).status_code == 403
    assert client.get(reverse("admin:directory_importjob_changelist")).status_code == 403

    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEWED
    assert ImportJob.objects.count() == 1
    assert not Staff.objects.filter(employee_number__in=["200001", "200002"]).exists()
    assert not AuditEntry.objects.filter(action="import.apply").exists()
