"""What the JMA feed acts on (the rule and its codes, edited in the admin) and what it has done:
the feed's validators, every report seen, and every step taken — each step once (a unique
constraint per EventID, step and drill-ness).

Imported by ``safety/models.py``, so these are models of the safety app."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from directory.models import OrgUnit

from ..models import Incident, IncidentLevel, SafetyRound
from .scale import THRESHOLD_CHOICES

ERR_UNIT_NEEDED = _("An earthquake code needs the unit whose staff are asked.")
ERR_THRESHOLDS = _("The declare threshold cannot be below the proposal threshold.")

code_validator = RegexValidator(r"^[0-9]{2,7}$", _("A JMA code is 2 to 7 digits."))


class JmaRule(models.Model):
    """The city's rules for the JMA feed (one row, edited in the admin)."""

    enabled = models.BooleanField(
        _("act on the feed"),
        default=True,
        help_text=_("Off: reports are still read and recorded, but nothing starts."),
    )
    propose_at = models.CharField(
        _("safety round for the affected wards and a proposal from intensity"),
        max_length=2,
        choices=THRESHOLD_CHOICES,
        default="5-",
    )
    declare_at = models.CharField(
        _("disaster mode and an all-staff round from intensity"),
        max_length=2,
        choices=THRESHOLD_CHOICES,
        default="5+",
    )
    tsunami_declares = models.BooleanField(
        _("a tsunami warning in our forecast areas declares disaster mode"), default=True
    )
    level = models.ForeignKey(
        IncidentLevel,
        verbose_name=_("level declared"),
        help_text=_("Unset: the most severe level."),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    repeat_hours = models.PositiveSmallIntegerField(
        _("a further round within (hours) only for a stronger quake"), default=6
    )
    drill_rounds = models.BooleanField(
        _("exercise reports (訓練) start exercise rounds"),
        default=False,
        help_text=_("Off: exercise and test reports are recorded and start nothing."),
    )
    max_age_minutes = models.PositiveIntegerField(
        _("ignore reports older than (minutes)"),
        default=720,
        help_text=_("0: no limit."),
    )

    class Meta:
        verbose_name = _("JMA feed rule")
        verbose_name_plural = _("JMA feed rules")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)

    def clean(self) -> None:
        from .scale import rank

        if rank(self.declare_at) < rank(self.propose_at):
            raise ValidationError({"declare_at": ERR_THRESHOLDS})


class JmaArea(models.Model):
    """One of our JMA codes: an earthquake area (細分区域, 3 digits, e.g. 520 大阪府北部) or city
    (市町村等, 7 digits, e.g. 2712700 大阪北区) with the unit whose staff it concerns, or a tsunami
    forecast area (津波予報区, e.g. 510 大阪府)."""

    class Kind(models.TextChoices):
        EARTHQUAKE = "earthquake", _("Earthquake area or city")
        TSUNAMI = "tsunami", _("Tsunami forecast area")

    rule = models.ForeignKey(JmaRule, on_delete=models.CASCADE, related_name="areas")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    code = models.CharField(_("JMA code"), max_length=7, validators=[code_validator])
    name = models.CharField(_("name"), max_length=40, blank=True)
    unit = models.ForeignKey(
        OrgUnit,
        verbose_name=_("unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )

    class Meta:
        verbose_name = _("JMA code")
        verbose_name_plural = _("JMA codes")
        ordering = ["kind", "code"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "kind", "code"], name="jma_area_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}".strip()

    def clean(self) -> None:
        if self.kind == self.Kind.EARTHQUAKE and self.unit_id is None:
            raise ValidationError({"unit": ERR_UNIT_NEEDED})


class JmaFeed(models.Model):
    """A polled feed: its validators for the next conditional GET."""

    url = models.CharField(max_length=500, unique=True)
    etag = models.CharField(max_length=200, blank=True)
    last_modified = models.CharField(max_length=100, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    changed_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)

    def __str__(self) -> str:
        return self.url


class JmaReport(models.Model):
    """One feed entry of a kind we act on (VXSE51, VXSE53, VTSE41), seen once: its document is
    downloaded until it is done (or refused, or failed too often), never again after."""

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        DONE = "done", _("Done")
        REFUSED = "refused", _("Refused")
        FAILED = "failed", _("Failed")

    entry_id = models.CharField(max_length=300, unique=True)  # the Atom entry's id (or link)
    url = models.CharField(max_length=500)
    kind = models.CharField(max_length=8)  # VXSE51 / VXSE53 / VTSE41
    feed_title = models.CharField(max_length=100, blank=True)
    seen_at = models.DateTimeField()
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True)  # a worker is on it until then
    # From the document:
    status = models.CharField(max_length=4, blank=True)  # 通常 / 訓練 / 試験
    info_type = models.CharField(max_length=4, blank=True)  # 発表 / 訂正 / 取消
    event_id = models.CharField(max_length=40, blank=True, db_index=True)
    report_at = models.DateTimeField(null=True, blank=True)
    headline = models.CharField(max_length=300, blank=True)
    # What it meant for us and what was done:
    intensity = models.CharField(max_length=2, blank=True)  # the strongest in our codes
    outcome = models.CharField(max_length=20, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    error = models.CharField(max_length=300, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("JMA report")
        verbose_name_plural = _("JMA reports")
        ordering = ["-seen_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.event_id or self.entry_id}"


class JmaStep(models.Model):
    """One thing the feed did for a quake (EventID): a round, a proposal, a declaration, the
    cancellation of what a report family started. Unique per EventID, step and drill-ness: a
    step fires once, whoever polls."""

    class Step(models.TextChoices):
        ROUND = "round", _("Safety round")
        PROPOSAL = "proposal", _("Proposal to declare")
        DECLARE = "declare", _("Disaster mode")
        CANCEL_EARTHQUAKE = "cancel_eq", _("Cancelled (earthquake report)")
        CANCEL_TSUNAMI = "cancel_ts", _("Cancelled (tsunami report)")

    event_id = models.CharField(max_length=40)
    step = models.CharField(max_length=10, choices=Step.choices)
    is_drill = models.BooleanField(default=False)
    family = models.CharField(max_length=4)  # VXSE / VTSE: the kind of report that started it
    report = models.ForeignKey(JmaReport, on_delete=models.PROTECT, related_name="steps")
    at = models.DateTimeField()
    strength = models.PositiveSmallIntegerField(default=0)  # scale.rank of what started it
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    round = models.ForeignKey(
        SafetyRound, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A declaration step that found disaster mode already open joins it (and a 取消 leaves it).
    declared = models.BooleanField(default=False)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["event_id", "step", "is_drill"], name="jma_step_once_per_event"
            ),
        ]
        indexes = [models.Index(fields=["step", "at"], name="jma_step_recent_idx")]

    def __str__(self) -> str:
        return f"{self.event_id} {self.step}"
