from django.urls import path

from . import views

app_name = "directory"

urlpatterns = [
    path("", views.search, name="search"),
    path("units/", views.unit_tree, name="unit_tree"),
    path("units/<int:unit_id>/", views.unit_detail, name="unit_detail"),
    path("staff/<int:staff_id>/", views.staff_detail, name="staff_detail"),
]
