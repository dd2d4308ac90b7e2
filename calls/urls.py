from django.urls import path, re_path

from . import views

app_name = "calls"
urlpatterns = [
    path("", views.call_list, name="call_list"),
    path("start/", views.call_start, name="call_start"),
    path("<int:call_id>/", views.call_detail, name="call_detail"),
    path("<int:call_id>/decline/", views.call_decline, name="call_decline"),
    path("g/<int:group_id>/", views.group_calls, name="group_calls"),
    path("g/<int:group_id>/conference/", views.conference_start, name="conference_start"),
    path("records/", views.records_index, name="records"),
    re_path(r"^records/export\.(?P<fmt>csv|json)$", views.records_export, name="records_export"),
]
