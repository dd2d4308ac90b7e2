"""The user's own settings: language, two-factor, password."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _

from . import accounts
from .forms import LanguageForm


def settings_view(request: HttpRequest) -> HttpResponse:
    form = LanguageForm(request.POST or None, initial={"language": request.user.language})
    if request.method == "POST" and form.is_valid():
        accounts.user_set_language(user=request.user, language=form.cleaned_data["language"])
        translation.activate(request.user.language)
        messages.success(request, _("Your settings were saved."))
        return redirect("settings")
    return render(request, "account/settings.html", {"form": form})
