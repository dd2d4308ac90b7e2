from django.urls import path

from . import views
from . import views_scenario as editor  # the scenario editor
from .views_report import run_report_csv, run_report_pdf, scenario_compare

app_name = "drills"

urlpatterns = [
    path("", views.scenario_list, name="scenario_list"),
    path("scenarios/<int:scenario_id>/", views.scenario_detail, name="scenario_detail"),
    path("runs/<int:run_id>/", views.run_control, name="run_control"),
    path("runs/<int:run_id>/action/", views.run_action, name="run_action"),
    path("runs/<int:run_id>/report/", views.run_report, name="run_report"),
    path("runs/<int:run_id>/report.pdf", run_report_pdf, name="run_report_pdf"),
    path("runs/<int:run_id>/report.csv", run_report_csv, name="run_report_csv"),
    path("scenarios/<int:scenario_id>/compare/", scenario_compare, name="scenario_compare"),
    # The scenario editor (editor.py).
    path("scenarios/new/", editor.scenario_new, name="scenario_new"),
    path("scenarios/import/", editor.scenario_import, name="scenario_import"),
    path("scenarios/<int:scenario_id>/edit/", editor.scenario_edit, name="scenario_edit"),
    path(
        "scenarios/<int:scenario_id>/import/",
        editor.scenario_import,
        name="scenario_reimport",
    ),
    path(
        "scenarios/<int:scenario_id>/export.<str:fmt>",
        editor.scenario_export,
        name="scenario_export",
    ),
    path("scenarios/<int:scenario_id>/copy/", editor.scenario_copy, name="scenario_copy"),
    path(
        "scenarios/<int:scenario_id>/delete/",
        editor.scenario_delete,
        name="scenario_delete",
    ),
    path("scenarios/<int:scenario_id>/injects/new/", editor.inject_edit, name="inject_new"),
    path(
        "scenarios/<int:scenario_id>/injects/<int:inject_id>/",
        editor.inject_edit,
        name="inject_edit",
    ),
    path(
        "scenarios/<int:scenario_id>/injects/<int:inject_id>/delete/",
        editor.inject_delete,
        name="inject_delete",
    ),
]
