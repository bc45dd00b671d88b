from django.urls import path

from workspaces import apikeys_views, audit_views, members_views, views

app_name = "workspaces"

# cloudsignal/urls.py adds "workspaces/<pk>/delete/" (name "delete"), which clients owns.
urlpatterns = [
    path("settings/organization/", views.organization_settings, name="organization"),
    path("settings/members/", members_views.member_list, name="members"),
    path("settings/members/invite/", members_views.member_invite, name="member-invite"),
    path("settings/members/<int:pk>/role/", members_views.member_role, name="member-role"),
    path("settings/members/<int:pk>/remove/", members_views.member_remove, name="member-remove"),
    path("settings/invitations/<int:pk>/revoke/", members_views.invitation_revoke, name="invitation-revoke"),
    path("settings/lockouts/<int:pk>/clear/", members_views.lockout_clear, name="lockout-clear"),
    path("settings/audit/", audit_views.audit_log, name="audit"),
    path("settings/api-keys/", apikeys_views.apikey_list, name="apikeys"),
    path("settings/api-keys/new/", apikeys_views.apikey_create, name="apikey-create"),
    path("settings/api-keys/<int:pk>/revoke/", apikeys_views.apikey_revoke, name="apikey-revoke"),
    path("workspaces/", views.workspace_list, name="list"),
    path("workspaces/new/", views.workspace_create, name="create"),
    path("workspaces/<int:pk>/rename/", views.workspace_rename, name="rename"),
]
