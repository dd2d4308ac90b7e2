"""Disaster mode (incidents), safety confirmation rounds for all staff, and assembly.

Public records: an answer is never changed or deleted; a new answer (the person's own, or one
entered on their behalf) is a new row, and the request keeps the time of the first one."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from directory.models import OrgUnit, Post, Staff
from messaging.models import CommandGroup, Message


class IncidentLevel(models.Model):
    """The city's levels of disaster readiness (警戒体制, 非常体制 …), editable in the admin."""

    code = models.SlugField(_("code"), max_length=30, unique=True)
    name = models.CharField(_("name"), max_length=50)
    order = models.PositiveSmallIntegerField(_("order"), default=0)  # higher is more severe

    class Meta:
        verbose_name = _("incident level")
        verbose_name_plural = _("incident levels")
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return self.name


class Incident(models.Model):
    """A declared disaster (災害モード): open from ``started_at`` until ``ended_at``."""

    class Kind(models.TextChoices):
        EARTHQUAKE = "earthquake", _("Earthquake")
        TSUNAMI = "tsunami", _("Tsunami")
        FLOOD = "flood", _("Flood")
        OTHER = "other", _("Other")

    title = models.CharField(_("title"), max_length=120)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    level = models.ForeignKey(IncidentLevel, verbose_name=_("level"), on_delete=models.PROTECT)
    affected_units = models.ManyToManyField(
        OrgUnit, verbose_name=_("affected area"), blank=True, related_name="+"
    )
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    declared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    hq_group = models.ForeignKey(
        CommandGroup, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    declaration = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Where it came from: a person, or the JMA feed (with the JMA EventID).
    source = models.CharField(max_length=10, default="manual")
    jma_event_id = models.CharField(max_length=40, blank=True)
    is_drill = models.BooleanField(_("exercise"), default=False)

    class Meta:
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["ended_at"], name="incident_open_idx")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.ended_at is None


class IncidentEntry(models.Model):
    """An explicit action on an incident (declared, level changed, round started, ended …): the
    audited part of its timeline. Append-only."""

    incident = models.ForeignKey(Incident, on_delete=models.PROTECT, related_name="entries")
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=30)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.incident_id} {self.action}"


class SafetySettings(models.Model):
    """The city's safety-confirmation settings (one row, edited in the admin)."""

    hq_group = models.ForeignKey(
        CommandGroup,
        verbose_name=_("city headquarters group"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    commander_post = models.ForeignKey(
        Post,
        verbose_name=_("本部長 post (may declare disaster mode)"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # Posts automatic announcements (the JMA feed) in the headquarters group: an account the
    # administrator made a commander of that group. Unset: automatic starts notify instead.
    announcer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("account for automatic announcements"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resend_minutes = models.JSONField(
        _("re-send to unanswered after (minutes)"), default=list, blank=True
    )
    questions = models.JSONField(_("questions"), default=dict, blank=True)

    class Meta:
        verbose_name = _("safety settings")
        verbose_name_plural = _("safety settings")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class AssemblyPlace(models.Model):
    """Where staff assemble: an office of their own unit, a ward office, or another site."""

    name = models.CharField(_("name"), max_length=100)
    unit = models.ForeignKey(
        OrgUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_ward_office = models.BooleanField(_("ward office"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    coordinators = models.ManyToManyField(
        settings.AUTH_USER_MODEL, verbose_name=_("coordinators"), blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("assembly place")
        verbose_name_plural = _("assembly places")
        ordering = ["-is_ward_office", "name"]

    def __str__(self) -> str:
        return self.name


class SafetyRound(models.Model):
    """One safety confirmation: a request to every targeted member of staff."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.PROTECT, related_name="rounds"
    )
    title = models.CharField(_("title"), max_length=120)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    # {"all": true} | {"units": [ids]} (subtrees) | {"workplace_units": [ids]} (affected wards)
    target = models.JSONField(default=dict)
    questions = models.JSONField(default=dict)  # the template, copied when the round starts
    resend_minutes = models.JSONField(default=list)  # after the start, e.g. [15, 30, 60]
    manual_resends = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField()
    # When everyone's first message was written (notify.round_notify_start); until then the
    # sweep writes what is missing (a worker killed mid-round).
    notified_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    total = models.PositiveIntegerField(default=0)
    # The announcement in the headquarters group: its members who do not answer are chased
    # through the instruction's escalation to their deputies.
    hq_message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    is_drill = models.BooleanField(_("exercise"), default=False)
    jma_event_id = models.CharField(max_length=40, blank=True)
    intensity = models.CharField(max_length=4, blank=True)  # the JMA intensity that started it

    class Meta:
        verbose_name = _("safety round")
        verbose_name_plural = _("safety rounds")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return self.title


class SafetyRequest(models.Model):
    """One member of staff asked in one round. The answer link is
    ``/s/<id>.<HMAC(secret key, id, nonce)>/`` (answer_links.py): valid for this round only,
    revoked by a new nonce; nothing secret is stored."""

    round = models.ForeignKey(SafetyRound, on_delete=models.PROTECT, related_name="requests")
    staff = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    unit = models.ForeignKey(OrgUnit, on_delete=models.PROTECT, related_name="+")  # at the start
    nonce = models.CharField(max_length=32)
    revoked_at = models.DateTimeField(null=True, blank=True)
    resends = models.PositiveSmallIntegerField(default=0)  # automatic re-sends done so far
    manual_resends = models.PositiveSmallIntegerField(default=0)
    first_answer_at = models.DateTimeField(null=True, blank=True)  # never overwritten
    answer = models.ForeignKey(
        "SafetyAnswer", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )  # the current one (the person's latest, or the latest on their behalf if none)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["round", "staff"], name="safety_request_unique"),
        ]
        indexes = [
            models.Index(fields=["round", "unit"], name="safety_request_unit_idx"),
            models.Index(
                fields=["round", "resends"],
                condition=Q(first_answer_at__isnull=True),
                name="safety_request_unanswered_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.round_id}/{self.staff_id}"


class SafetyAnswer(models.Model):
    """One answer, as given. Several per request; none is ever changed."""

    class Via(models.TextChoices):
        LINK = "link", _("Answer link")
        APP = "app", _("In the app")
        PHONE = "phone", _("On behalf, after a phone call")
        IN_PERSON = "person", _("On behalf, in person")
        OTHER = "other", _("On behalf, other")

    request = models.ForeignKey(SafetyRequest, on_delete=models.PROTECT, related_name="answers")
    round = models.ForeignKey(SafetyRound, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField()
    values = models.JSONField()  # question key -> choice key or text (validated by the template)
    via = models.CharField(max_length=8, choices=Via.choices)
    # Who entered it when it was not the person themselves (代理回答), and how they learned it.
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.CharField(max_length=300, blank=True)
    # The answer form's once-key: the same form sent twice (a phone retrying after a lost
    # reply) is one answer. Empty for answers not from a form that has one.
    submission = models.CharField(max_length=32, blank=True, default="")

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["round", "at"], name="safety_answer_round_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "submission"],
                condition=~models.Q(submission=""),
                name="safety_answer_submission_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.at:%H:%M}"

    @property
    def on_behalf(self) -> bool:
        return self.entered_by_id is not None


class CheckIn(models.Model):
    """Arrival at an assembly place (by the person, or ticked off by the place's coordinator)."""

    round = models.ForeignKey(SafetyRound, on_delete=models.PROTECT, related_name="+")
    request = models.ForeignKey(SafetyRequest, on_delete=models.PROTECT, related_name="checkins")
    place = models.ForeignKey(AssemblyPlace, on_delete=models.PROTECT, related_name="checkins")
    at = models.DateTimeField()
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "place"], name="checkin_once_per_place"),
        ]

    def __str__(self) -> str:
        return f"{self.request_id}@{self.place_id}"


class SafetyContact(models.Model):
    """A private address for safety confirmation (besides the work e-mail), given by the person
    or imported by an administrator. Only administrators and the person see it."""

    staff = models.OneToOneField(Staff, on_delete=models.CASCADE, related_name="safety_contact")
    email = models.EmailField(_("private e-mail"))
    source = models.CharField(max_length=10, default="self")  # self / import
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("private contact")
        verbose_name_plural = _("private contacts")

    def __str__(self) -> str:
        return f"{self.staff_id}"


# The JMA feed's rule, codes and records (safety/jma/models.py), models of this app too.
from .jma.models import JmaArea, JmaFeed, JmaReport, JmaRule, JmaStep  # noqa: E402, F401
