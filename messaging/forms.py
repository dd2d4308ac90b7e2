from django import forms
from django.utils.translation import gettext_lazy as _

from directory.models import Post, Staff

from .models import GroupMembership, Message

ERR_PRIORITY_REQUIRED = _("Choose the instruction's priority.")
ERR_BAD_ESCALATION = _("The instruction's reminder settings are not valid.")


class SendForm(forms.Form):
    """HTTP sending (attachments, and pages without websockets). Fields as the composer sends
    them: a message or reply needs no priority (it is normal); an instruction names one, and
    may carry its own chase (``escalation``, JSON, validated by the service)."""

    client_id = forms.UUIDField()
    body = forms.CharField(required=False, max_length=4000, widget=forms.Textarea)
    kind = forms.ChoiceField(choices=Message.Kind.choices, initial=Message.Kind.MESSAGE)
    priority = forms.ChoiceField(choices=Message.Priority.choices, required=False)
    requires_ack = forms.BooleanField(required=False)
    reply_to = forms.IntegerField(required=False, min_value=1)
    escalation = forms.JSONField(required=False)
    file = forms.FileField(required=False)

    def clean(self):
        data = super().clean()
        if data.get("kind") == Message.Kind.INSTRUCTION:
            if not data.get("priority"):
                self.add_error("priority", ERR_PRIORITY_REQUIRED)
        else:
            data["priority"] = Message.Priority.NORMAL
        if data.get("escalation") is not None and not isinstance(data["escalation"], dict):
            self.add_error("escalation", ERR_BAD_ESCALATION)
        return data


class AddMemberForm(forms.Form):
    post = forms.ModelChoiceField(
        queryset=Post.objects.order_by("sort_order", "code"), required=False, label=_("Post")
    )
    employee_number = forms.CharField(required=False, max_length=20, label=_("Employee number"))
    role = forms.ChoiceField(
        choices=GroupMembership.Role.choices, label=_("Role"), initial=GroupMembership.Role.MEMBER
    )

    def clean(self):
        data = super().clean()
        number = (data.get("employee_number") or "").strip()
        if bool(data.get("post")) == bool(number):
            raise forms.ValidationError(
                _("Choose a post or enter an employee number (one of the two).")
            )
        if number:
            staff = Staff.objects.filter(employee_number=number, is_active=True).first()
            if staff is None:
                raise forms.ValidationError(_("No active staff member has that employee number."))
            data["staff"] = staff
        return data
