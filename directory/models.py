from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A sign-in account. ``username`` is the employee number (職員番号)."""

    class Role(models.TextChoices):
        ADMIN = "admin", _("Administrator")
        COORDINATOR = "coordinator", _("Drill coordinator")
        HQ_MEMBER = "hq_member", _("Headquarters member")
        STAFF = "staff", _("Staff")

    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.STAFF)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )
    must_change_password = models.BooleanField(_("must change password"), default=False)

    class Meta:
        verbose_name = _("user account")
        verbose_name_plural = _("user accounts")

    def display_name(self) -> str:
        staff = getattr(self, "staff", None)
        return staff.full_name if staff else self.get_username()


class OrgUnit(models.Model):
    """A node of the organisation tree: city → bureau/ward/office → department → section."""

    class Kind(models.TextChoices):
        CITY = "city", _("City")
        BUREAU = "bureau", _("Bureau")
        WARD = "ward", _("Ward")
        OFFICE = "office", _("Office")
        DEPARTMENT = "department", _("Department")
        SECTION = "section", _("Section")

    code = models.CharField(_("unit code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kana = models.CharField(_("reading"), max_length=200, blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    # Materialised path of ids ("/1/7/42/"): subtree queries are one indexed prefix match.
    path = models.CharField(max_length=255, db_index=True, editable=False, default="")
    depth = models.PositiveSmallIntegerField(default=0, editable=False)
    search_key = models.CharField(max_length=400, editable=False, default="")

    class Meta:
        verbose_name = _("organisation unit")
        verbose_name_plural = _("organisation units")
        ordering = ["path"]
        indexes = [models.Index(fields=["parent", "sort_order"])]

    def __str__(self) -> str:
        return self.name


class Staff(models.Model):
    """A member of staff from the HR roster, with or without a sign-in account."""

    employee_number = models.CharField(_("employee number"), max_length=20, unique=True)
    family_name = models.CharField(_("family name"), max_length=50)
    given_name = models.CharField(_("given name"), max_length=50)
    family_kana = models.CharField(_("family name reading"), max_length=100)
    given_kana = models.CharField(_("given name reading"), max_length=100)
    unit = models.ForeignKey(
        OrgUnit, verbose_name=_("unit"), on_delete=models.PROTECT, related_name="staff"
    )
    job_title = models.CharField(_("job title"), max_length=100, blank=True)
    email = models.EmailField(_("work e-mail"), blank=True)
    mobile = models.CharField(_("mobile number"), max_length=30, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("sign-in account"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="staff",
    )
    # Normalised employee number, name and reading (see directory/text.py).
    search_key = models.CharField(max_length=400, editable=False, default="")
    kana_sort = models.CharField(max_length=200, editable=False, default="", db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        ordering = ["kana_sort", "employee_number"]
        indexes = [models.Index(fields=["unit", "is_active"])]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.employee_number})"

    @property
    def full_name(self) -> str:
        return f"{self.family_name} {self.given_name}"

    @property
    def full_kana(self) -> str:
        return f"{self.family_kana} {self.given_kana}"


class Post(models.Model):
    """A seat (本部長, 建設局長, 北区長 …) held by one staff member at a time, with deputies.

    Command groups address posts, so the April rotation changes the holder, not every group.
    """

    code = models.CharField(_("post code"), max_length=30, unique=True)
    name = models.CharField(_("post name"), max_length=100)
    kana = models.CharField(_("reading"), max_length=200, blank=True)
    unit = models.ForeignKey(
        OrgUnit,
        verbose_name=_("unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="posts",
    )
    holder = models.ForeignKey(
        Staff,
        verbose_name=_("holder"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="posts_held",
    )
    sort_order = models.PositiveIntegerField(_("sort order"), default=0)
    search_key = models.CharField(max_length=400, editable=False, default="")

    class Meta:
        verbose_name = _("post")
        verbose_name_plural = _("posts")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.name


class PostDeputy(models.Model):
    """The ordered deputies (代行者) of a post: rank 1 stands in first, then 2, …"""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="deputies")
    staff = models.ForeignKey(
        Staff, verbose_name=_("deputy"), on_delete=models.PROTECT, related_name="deputy_for"
    )
    rank = models.PositiveSmallIntegerField(_("order"))

    class Meta:
        verbose_name = _("deputy")
        verbose_name_plural = _("deputies")
        ordering = ["post", "rank"]
        constraints = [
            models.UniqueConstraint(fields=["post", "rank"], name="postdeputy_unique_rank"),
            models.UniqueConstraint(fields=["post", "staff"], name="postdeputy_unique_staff"),
            models.CheckConstraint(condition=models.Q(rank__gte=1), name="postdeputy_rank_gte_1"),
        ]

    def __str__(self) -> str:
        return f"{self.post} #{self.rank}: {self.staff}"


class AuditEntry(models.Model):
    """Append-only audit log (who did what, when). No page or service updates or deletes it."""

    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    action = models.CharField(_("action"), max_length=60, db_index=True)
    target_type = models.CharField(_("target type"), max_length=60, blank=True)
    target_id = models.CharField(_("target id"), max_length=60, blank=True)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit log")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["target_type", "target_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.target_type}:{self.target_id}"

    # Guards, not business logic: an audit row can only ever be inserted.
    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("audit entries are append-only")


class ImportJob(models.Model):
    """One upload of the HR roster (staff) or the unit list: previewed, then applied or not."""

    class Kind(models.TextChoices):
        STAFF = "staff", _("Staff roster")
        UNITS = "units", _("Organisation units")

    class Status(models.TextChoices):
        PREVIEWED = "previewed", _("Previewed")
        INVALID = "invalid", _("Has errors")
        APPLIED = "applied", _("Applied")

    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    filename = models.CharField(_("file name"), max_length=255)
    content = models.BinaryField(editable=False)
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    deactivate_missing = models.BooleanField(
        _("deactivate staff missing from the roster"), default=False
    )
    status = models.CharField(_("status"), max_length=10, choices=Status.choices)
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    applied_at = models.DateTimeField(_("applied at"), null=True, blank=True)

    class Meta:
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.filename}"
