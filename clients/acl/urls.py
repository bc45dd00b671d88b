from django.urls import path

from clients.acl import views

app_name = "acl"

urlpatterns = [
    path("", views.rules, name="rules"),
    path("<int:workspace_id>/rules/new/", views.rule_add, name="rule-add"),
    path("<int:workspace_id>/rules/<int:rule_id>/", views.rule_edit, name="rule-edit"),
    path("<int:workspace_id>/rules/<int:rule_id>/move/", views.rule_move, name="rule-move"),
    path("<int:workspace_id>/rules/<int:rule_id>/delete/", views.rule_delete, name="rule-delete"),
    path("<int:workspace_id>/default/", views.default, name="default"),
    path("<int:workspace_id>/rules/remove-missing/", views.remove_missing, name="remove-missing"),
    path("<int:workspace_id>/test/", views.simulate, name="simulate"),
]
