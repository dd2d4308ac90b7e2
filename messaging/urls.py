from django.urls import path

from . import views

app_name = "messaging"

urlpatterns = [
    path("with/<int:staff_id>/", views.conversation_start, name="conversation_start"),
]
