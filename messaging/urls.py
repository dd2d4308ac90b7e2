from django.urls import path, re_path

from . import views, views_escalation

app_name = "messaging"

urlpatterns = [
    path("", views.group_list, name="group_list"),
    path("g/<int:group_id>/", views.group_detail, name="group_detail"),
    path("g/<int:group_id>/history/", views.group_history, name="group_history"),
    path("g/<int:group_id>/send/", views.message_post, name="message_post"),
    path("g/<int:group_id>/members/", views.group_members, name="group_members"),
    path("m/<int:message_id>/ack/", views.message_ack, name="message_ack"),
    path("m/<int:message_id>/receipts/", views.message_receipts, name="message_receipts"),
    path("attachments/<int:attachment_id>/", views.attachment_download, name="attachment"),
    path("with/<int:staff_id>/", views.conversation_start, name="conversation_start"),
    path("m/<int:message_id>/chase/", views_escalation.message_chase, name="message_chase"),
    path("m/<int:message_id>/pending/", views_escalation.message_pending, name="message_pending"),
    path("g/<int:group_id>/policy/", views_escalation.group_policy, name="group_policy"),
    path("standin/<int:standin_id>/", views_escalation.standin_detail, name="standin_detail"),
    path("records/", views.records_index, name="records_index"),
    path("records/<int:group_id>/", views.records_group, name="records_group"),
    re_path(
        r"^records/(?P<group_id>[0-9]+)/export\.(?P<fmt>csv|json)$",
        views.records_export,
        name="records_export",
    ),
]
