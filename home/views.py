"""The home page: what waits for the signed-in person, from every app. It sits at the top of
the app order so it may read any app's selectors (docs/architecture.md)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from directory import selectors as directory_selectors
from drills import runs as drill_runs
from messaging import selectors as messaging_selectors
from safety import selectors as safety_selectors


def home(request: HttpRequest) -> HttpResponse:
    staff = getattr(request.user, "staff", None)
    profile = directory_selectors.staff_profile(staff_id=staff.pk) if staff else None
    return render(
        request,
        "home/home.html",
        {
            "profile": profile,
            "waiting": messaging_selectors.user_waiting_instructions(user=request.user),
            "stand_ins": messaging_selectors.user_stand_ins(user=request.user),
            "open_instructions": messaging_selectors.user_open_instructions(user=request.user),
            "safety_mine": safety_selectors.user_open_requests(user=request.user),
            "safety_rounds": safety_selectors.open_rounds()
            if safety_selectors.user_can_see_totals(user=request.user)
            else [],
            "can_declare": safety_selectors.user_can_declare(user=request.user),
            # The tools a role has, so nobody has to know an address by heart.
            "can_run_drills": drill_runs.user_runs_drills(user=request.user),
            "can_see_records": messaging_selectors.user_is_records_admin(user=request.user),
            "can_administer": request.user.is_staff,
        },
    )
