from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .models import User


class LanguageForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)


class IssueAccountsForm(forms.Form):
    """Options for issuing sign-in accounts to the staff selected in the admin."""

    OUTPUT_SHEET = "sheet"
    OUTPUT_CSV = "csv"

    method = forms.ChoiceField(
        label=_("How people get their password"),
        choices=[
            ("password", _("A one-time initial password, printed on the onboarding sheet")),
            ("invitation", _("An invitation link to set their own password")),
        ],
        initial="password",
        widget=forms.RadioSelect,
    )
    role = forms.ChoiceField(label=_("Role"), initial="staff")
    send_email = forms.BooleanField(
        label=_("Also e-mail the invitation link to each person's work address"), required=False
    )
    output = forms.ChoiceField(
        label=_("Output"),
        choices=[
            (OUTPUT_SHEET, _("Printable onboarding sheets (one page per person)")),
            (OUTPUT_CSV, _("CSV file (for mail merge)")),
        ],
        initial=OUTPUT_SHEET,
        widget=forms.RadioSelect,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = User.Role.choices
