from django.urls import path

from clients import acl_views

app_name = "acl"

urlpatterns = [
    path("", acl_views.rules, name="rules"),
]
