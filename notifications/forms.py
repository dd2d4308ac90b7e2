from django import forms
from django.utils.translation import gettext_lazy as _


class NotificationSettingsForm(forms.Form):
    push = forms.BooleanField(
        label=_("Push notifications on this phone or browser"), required=False
    )
    email = forms.BooleanField(label=_("E-mail to my work address"), required=False)
