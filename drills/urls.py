from django.urls import path

from . import views
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
]
