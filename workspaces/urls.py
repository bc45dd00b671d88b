from django.urls import path

from workspaces import views

app_name = "workspaces"

# cloudsignal/urls.py adds "workspaces/<pk>/delete/" (name "delete"), which clients owns.
urlpatterns = [
    path("settings/organization/", views.organization_settings, name="organization"),
    path("workspaces/", views.workspace_list, name="list"),
    path("workspaces/new/", views.workspace_create, name="create"),
    path("workspaces/<int:pk>/rename/", views.workspace_rename, name="rename"),
]
