from django.urls import path

from . import views

app_name = "drills"

urlpatterns = [
    path("", views.scenario_list, name="scenario_list"),
    path("scenarios/<int:scenario_id>/", views.scenario_detail, name="scenario_detail"),
    path("runs/<int:run_id>/", views.run_control, name="run_control"),
    path("runs/<int:run_id>/action/", views.run_action, name="run_action"),
    path("runs/<int:run_id>/report/", views.run_report, name="run_report"),
]
