"""Command groups and their messages. Messages are public records (公文書): rows are never
deleted; an edit or deletion adds a MessageVersion and keeps every earlier one."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from directory.models import OrgUnit, Post, Staff

EXERCISE_MARK = "【訓練】"  # every exercise message says so in its own text


class CommandGroup(models.Model):
    class Kind(models.TextChoices):
        HEADQUARTERS = "hq", _("Disaster headquarters")
        WARD_HEADQUARTERS = "ward_hq", _("Ward disaster headquarters")
        OFFICE = "office", _("Office")
        AD_HOC = "adhoc", _("Ad hoc")
        DIRECT = "direct", _("One-to-one")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    unit = models.ForeignKey(
        OrgUnit,
        verbose_name=_("unit"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="command_groups",
    )
    description = models.CharField(_("description"), max_length=300, blank=True)
    # Highest sequence number handed out; incremented under a row lock (gap-free, see services).
    last_seq = models.PositiveBigIntegerField(default=0, editable=False)
    # "<lower staff id>:<higher staff id>" for one-to-one conversations, so there is one per pair.
    direct_key = models.CharField(max_length=50, null=True, blank=True, unique=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("command group")
        verbose_name_plural = _("command groups")
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name


class GroupMembership(models.Model):
    """A post (whoever holds it now) or, in ad hoc and one-to-one groups, a staff member."""

    class Role(models.TextChoices):
        COMMANDER = "commander", _("Commander")
        MEMBER = "member", _("Member")
        OBSERVER = "observer", _("Observer")

    group = models.ForeignKey(CommandGroup, on_delete=models.CASCADE, related_name="memberships")
    post = models.ForeignKey(
        Post,
        verbose_name=_("post"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="group_memberships",
    )
    staff = models.ForeignKey(
        Staff,
        verbose_name=_("staff member"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="group_memberships",
    )
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.MEMBER)
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.CheckConstraint(
                condition=(Q(post__isnull=False) & Q(staff__isnull=True))
                | (Q(post__isnull=True) & Q(staff__isnull=False)),
                name="membership_post_xor_staff",
            ),
            models.UniqueConstraint(fields=["group", "post"], name="membership_unique_post"),
            models.UniqueConstraint(fields=["group", "staff"], name="membership_unique_staff"),
        ]

    def __str__(self) -> str:
        return f"{self.group}: {self.post or self.staff} ({self.role})"


class Message(models.Model):
    class Kind(models.TextChoices):
        MESSAGE = "message", _("Message")
        INSTRUCTION = "instruction", _("Instruction")
        REPLY = "reply", _("Reply")

    class Priority(models.TextChoices):
        NORMAL = "normal", _("Normal")
        IMPORTANT = "important", _("Important")
        URGENT = "urgent", _("Urgent")

    group = models.ForeignKey(CommandGroup, on_delete=models.PROTECT, related_name="messages")
    seq = models.PositiveBigIntegerField(_("sequence number"))
    client_id = models.UUIDField(_("client id"))
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Who the sender was when sending (names and posts change; the record must not).
    sender_name = models.CharField(max_length=120)
    sender_post_name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices, default=Kind.MESSAGE)
    priority = models.CharField(
        _("priority"), max_length=10, choices=Priority.choices, default=Priority.NORMAL
    )
    requires_ack = models.BooleanField(_("acknowledgement requested"), default=False)
    reply_to = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replies"
    )
    body = models.TextField(_("text"), blank=True)  # the current version's text
    created_at = models.DateTimeField(_("sent at"), auto_now_add=True)
    edited_at = models.DateTimeField(_("edited at"), null=True, blank=True)
    deleted_at = models.DateTimeField(_("deleted at"), null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    # Who is expected to respond: the recipients minus observers (閲覧のみ), who receive and may
    # read but are not counted, chased or reported. The denominator of "既読 187/200".
    recipient_count = models.PositiveIntegerField(default=0)
    # The escalation policy in force for this instruction (copied at send; null: not chased).
    escalation = models.JSONField(null=True, blank=True)
    # Part of an exercise (訓練): its text starts with 【訓練】, pages show it apart, and the
    # chronology can leave exercise traffic out or export it on its own.
    exercise = models.BooleanField(_("exercise"), default=False)
    # When the sender and the crisis office were told who stayed unreached (at most once).
    unreached_reported_at = models.DateTimeField(null=True, blank=True)
    # When the immediate push of an important/urgent instruction was written (alerts.py); null
    # while it is owed: the escalation sweep runs it for an instruction whose alert task died.
    alerted_at = models.DateTimeField(null=True, blank=True)
    # Reminders, hand-overs and reports about this instruction (part of its public record).
    notifications = GenericRelation(
        "notifications.Notification",
        content_type_field="subject_type",
        object_id_field="subject_id",
        related_query_name="message",
    )

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["group", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["group", "seq"], name="message_unique_group_seq"),
            models.UniqueConstraint(
                fields=["sender", "client_id"], name="message_unique_client_id"
            ),
        ]
        indexes = [  # the sweep's look for alerts still owed: a few rows, not the table
            models.Index(
                fields=["created_at"],
                condition=models.Q(kind="instruction", alerted_at__isnull=True),
                name="message_alert_owed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group_id}#{self.seq}"


class MessageVersion(models.Model):
    """Every text a message ever had, including the original and the deletion."""

    class Action(models.TextChoices):
        CREATE = "create", _("Sent")
        EDIT = "edit", _("Edited")
        DELETE = "delete", _("Deleted")

    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="versions")
    version = models.PositiveIntegerField()
    action = models.CharField(max_length=10, choices=Action.choices)
    body = models.TextField(blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("message version")
        verbose_name_plural = _("message versions")
        ordering = ["message", "version"]
        constraints = [
            models.UniqueConstraint(fields=["message", "version"], name="version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id} v{self.version} {self.action}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"attachments/{instance.group_id}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="attachments")
    group = models.ForeignKey(CommandGroup, on_delete=models.PROTECT, related_name="+")
    file = models.FileField(upload_to=attachment_path)
    thumbnail = models.FileField(upload_to=attachment_path, blank=True)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")

    def __str__(self) -> str:
        return self.original_name


class Receipt(models.Model):
    """One per (message, expected recipient), created when the message is sent. Read and
    acknowledgement times fill in later; the rows are part of the public record."""

    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="receipts")
    group = models.ForeignKey(CommandGroup, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # Through which post the person was addressed (null: as an individual member).
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    read_at = models.DateTimeField(null=True, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)
    # Addressed as an observer: the message reaches them and their reading is recorded, but they
    # are not in the counts, never chased and never "unreached".
    observer = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="receipt_unique"),
        ]
        indexes = [
            models.Index(fields=["user", "group", "read_at"], name="receipt_unread_idx"),
            models.Index(fields=["message", "read_at"], name="receipt_message_read_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id}/{self.user_id}"


# --- escalation (issue: reminders, deputies, push/e-mail) -------------------------------------
class EscalationPolicy(models.Model):
    """How a group chases unanswered instructions of one priority. Instructions copy the policy
    when sent (Message.escalation), so editing a policy never changes a chase already running."""

    class StopOn(models.TextChoices):
        READ = "read", _("Read")
        ACK = "ack", _("Acknowledged")

    group = models.ForeignKey(CommandGroup, on_delete=models.CASCADE, related_name="policies")
    priority = models.CharField(_("priority"), max_length=10, choices=Message.Priority.choices)
    enabled = models.BooleanField(_("chase unanswered instructions"), default=True)
    stop_on = models.CharField(
        _("stop chasing when"), max_length=4, choices=StopOn.choices, default=StopOn.ACK
    )
    first_after = models.PositiveIntegerField(_("first reminder after (seconds)"), default=300)
    repeat_every = models.PositiveIntegerField(_("repeat every (seconds)"), default=300)
    repeat_count = models.PositiveSmallIntegerField(_("repeat reminders"), default=2)
    use_deputies = models.BooleanField(_("then escalate to deputies"), default=True)
    deputy_wait = models.PositiveIntegerField(_("each deputy gets (seconds)"), default=300)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("escalation policy")
        verbose_name_plural = _("escalation policies")
        constraints = [
            models.UniqueConstraint(fields=["group", "priority"], name="policy_unique_priority"),
            models.CheckConstraint(
                condition=models.Q(first_after__gte=1, repeat_every__gte=1, deputy_wait__gte=1),
                name="policy_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group_id}/{self.priority}"


class Chase(models.Model):
    """The chase of one addressed seat (a post, or an individual member) for one instruction.
    The periodic sweep advances it one step at a time; see docs/escalation.md."""

    class State(models.TextChoices):
        ACTIVE = "active", _("Being chased")
        COVERED = "covered", _("Responded")
        UNREACHED = "unreached", _("Unreached")
        CANCELLED = "cancelled", _("Cancelled")

    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="chases")
    receipt = models.OneToOneField(Receipt, on_delete=models.PROTECT, related_name="chase")
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    step = models.PositiveSmallIntegerField(default=0)  # steps fired so far
    reminders = models.PositiveSmallIntegerField(default=0)
    deputy_rank = models.PositiveSmallIntegerField(default=0)  # 0: no deputy engaged yet
    next_due_at = models.DateTimeField(null=True, blank=True)
    covered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    covered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("chase")
        verbose_name_plural = _("chases")
        indexes = [
            # The sweep's only query: active chases whose next step is due.
            models.Index(
                fields=["next_due_at"], condition=models.Q(state="active"), name="chase_due_idx"
            ),
            models.Index(fields=["message", "state"], name="chase_message_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id}/{self.receipt_id} {self.state}"


class StandIn(models.Model):
    """A deputy handed an instruction because the post holder did not respond."""

    chase = models.ForeignKey(Chase, on_delete=models.PROTECT, related_name="stand_ins")
    deputy = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="stand_ins"
    )
    rank = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    acked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("stand-in")
        verbose_name_plural = _("stand-ins")
        constraints = [models.UniqueConstraint(fields=["chase", "deputy"], name="standin_unique")]

    def __str__(self) -> str:
        return f"{self.chase_id} #{self.rank} {self.deputy_id}"
