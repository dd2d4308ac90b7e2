from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from directory.models import Staff


def conversation_start(request: HttpRequest, staff_id: int) -> HttpResponse:
    """Placeholder until one-to-one conversations land (command-groups issue)."""
    staff = get_object_or_404(Staff, pk=staff_id, is_active=True)
    return render(request, "messaging/coming_soon.html", {"staff": staff})
