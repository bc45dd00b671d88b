from django.urls import path

from clients.acl import views as acl_views

app_name = "acl"

urlpatterns = [
    path("", acl_views.rules, name="rules"),
    path("<int:workspace_id>/rules/new/", acl_views.rule_add, name="rule-add"),
    path("<int:workspace_id>/rules/<int:rule_id>/", acl_views.rule_edit, name="rule-edit"),
    path("<int:workspace_id>/rules/<int:rule_id>/move/", acl_views.rule_move, name="rule-move"),
    path("<int:workspace_id>/rules/<int:rule_id>/delete/", acl_views.rule_delete, name="rule-delete"),
    path("<int:workspace_id>/default/", acl_views.default, name="default"),
    path("<int:workspace_id>/test/", acl_views.simulate, name="simulate"),
]
