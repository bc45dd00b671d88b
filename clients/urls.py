from django.urls import path

from clients import bulk_views, sessions_views, throttle_views, views

app_name = "clients"

urlpatterns = [
    path("", views.client_list, name="list"),
    path("new/", views.client_create, name="create"),
    path("export.csv", views.client_export, name="export"),
    path("bulk/disable/", bulk_views.bulk_disable, name="bulk-disable"),
    path("bulk/enable/", bulk_views.bulk_enable, name="bulk-enable"),
    path("bulk/delete/", bulk_views.bulk_delete, name="bulk-delete"),
    path("generate-password/", views.generate_password, name="generate-password"),
    path("sessions/", sessions_views.session_list, name="sessions"),
    path("sessions/<int:pk>/disconnect/", sessions_views.session_disconnect, name="session-disconnect"),
    path("throttled/", throttle_views.throttle_list, name="throttled"),
    path("throttled/clear/", throttle_views.throttle_clear, name="throttle-clear"),
    path("<int:pk>/", views.client_detail, name="detail"),
    path("<int:pk>/sessions/", views.client_sessions, name="detail-sessions"),
    path("<int:pk>/history/", views.client_history, name="detail-history"),
    path("<int:pk>/throttle/", views.client_throttle, name="detail-throttle"),
    path("<int:pk>/edit/", views.client_edit, name="edit"),
    path("<int:pk>/reset-password/", views.client_reset_password, name="reset-password"),
    path("<int:pk>/delete/", views.client_delete, name="delete"),
]
