from django.urls import path, re_path

from . import views, views_answer, views_assembly, views_records, views_round

app_name = "safety"

urlpatterns = [
    path("safety/", views.safety_index, name="index"),
    path("safety/declare/", views.incident_declare, name="declare"),
    path("safety/incidents/<int:incident_id>/", views.incident_detail, name="incident_detail"),
    path(
        "safety/incidents/<int:incident_id>/chronology/",
        views.incident_chronology,
        name="incident_chronology",
    ),
    re_path(
        r"^safety/incidents/(?P<incident_id>[0-9]+)/chronology\.(?P<fmt>csv|json)$",
        views.incident_chronology,
        name="incident_chronology_export",
    ),
    path("safety/rounds/<int:round_id>/", views_round.round_detail, name="round_detail"),
    path("safety/rounds/<int:round_id>/close/", views.round_close, name="round_close"),
    path("safety/rounds/<int:round_id>/resend/", views.round_resend, name="round_resend"),
    path("safety/rounds/<int:round_id>/answer/", views_answer.answer_in_app, name="answer_in_app"),
    path(
        "safety/rounds/<int:round_id>/on-behalf/<int:request_id>/",
        views_round.answer_on_behalf,
        name="answer_on_behalf",
    ),
    path(
        "safety/rounds/<int:round_id>/assembly/",
        views_assembly.assembly_board,
        name="assembly_board",
    ),
    path(
        "safety/rounds/<int:round_id>/assembly/<int:place_id>/",
        views_assembly.assembly_place,
        name="assembly_place",
    ),
    path(
        "safety/rounds/<int:round_id>/assembly/<int:place_id>/check-in/",
        views_assembly.assembly_check_in,
        name="assembly_check_in",
    ),
    path(
        "safety/rounds/<int:round_id>/arrived/",
        views_assembly.arrived_in_app,
        name="arrived_in_app",
    ),
    re_path(
        r"^safety/rounds/(?P<round_id>[0-9]+)/export\.(?P<fmt>csv|xlsx)$",
        views_records.round_export,
        name="round_export",
    ),
    path("safety/contact/", views_records.contact_settings, name="contact"),
    path("safety/answer/", views_answer.my_round, name="my_round"),
    # The personal answer link in e-mails: short, no sign-in. Anything under /s/ that is not
    # a link (a mangled copy with slashes in it) gets the page saying the link does not work.
    path("s/<str:token>/arrived/", views_assembly.arrived_by_link, name="arrived"),
    path("s/<path:token>/", views_answer.answer_by_link, name="answer"),
]
