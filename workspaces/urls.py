from django.urls import path

from workspaces import views

app_name = "workspaces"

urlpatterns = [
    path("settings/organization/", views.organization_settings, name="organization"),
    path("workspaces/", views.workspace_list, name="list"),
    path("workspaces/new/", views.workspace_create, name="create"),
    path("workspaces/<int:pk>/rename/", views.workspace_rename, name="rename"),
    path("workspaces/<int:pk>/delete/", views.workspace_delete, name="delete"),
    path("help/username-format/", views.help_username_format, name="help-username-format"),
    path("help/first-connection/", views.help_first_connection, name="help-first-connection"),
]
