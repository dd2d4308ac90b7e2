"""Directory pages: search, org tree, profile. Thin: validate, call a selector, render."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from . import selectors
from .models import OrgUnit

MAX_QUERY_LENGTH = 100


def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:MAX_QUERY_LENGTH].strip()
    context = {
        "query": query,
        "staff": selectors.staff_search(query=query) if query else [],
        "units": selectors.unit_search(query=query) if query else [],
        "posts": selectors.post_search(query=query) if query else [],
        "limit": selectors.SEARCH_LIMIT,
    }
    # ?partial=1 is the live search (static/js/honbu.js): just the result list.
    template = "directory/_results.html" if request.GET.get("partial") else "directory/search.html"
    return render(request, template, context)


def unit_tree(request: HttpRequest) -> HttpResponse:
    # Roots with their first level: a city has one root, so one tap is saved on every visit.
    tree = [(root, selectors.unit_children(unit=root)) for root in selectors.unit_roots()]
    return render(request, "directory/unit.html", {"unit": None, "tree": tree})


def unit_detail(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = get_object_or_404(OrgUnit, pk=unit_id, is_active=True)
    page = Paginator(selectors.unit_staff(unit=unit), 50).get_page(request.GET.get("page"))
    return render(
        request,
        "directory/unit.html",
        {
            "unit": unit,
            "ancestors": selectors.unit_ancestors(unit=unit),
            "children": selectors.unit_children(unit=unit),
            "posts": unit.posts.select_related("holder").order_by("sort_order"),
            "page": page,
            "total": selectors.unit_staff_count(unit=unit),
        },
    )


def staff_detail(request: HttpRequest, staff_id: int) -> HttpResponse:
    profile = selectors.staff_profile(staff_id=staff_id)
    if profile is None:
        raise Http404
    return render(request, "directory/profile.html", {"profile": profile, "staff": profile.staff})
