from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from clients.workspace_views import workspace_delete
from cloudsignal import views
from cloudsignal.api import urls as api_urls
from cloudsignal.rabbitmq import auth_views as rabbitmq_auth
from workspaces import urls as workspace_urls
from workspaces import views as workspace_views
from workspaces.forms import EmailLoginForm

# The workspace pages, with the one clients owns: deleting a workspace deletes its clients too.
workspace_pages = [
    *workspace_urls.urlpatterns,
    path("workspaces/<int:pk>/delete/", workspace_delete, name="delete"),
]

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="clients:list"), name="home"),
    path("setup/", workspace_views.setup, name="setup"),
    path(
        "login/",
        auth_views.LoginView.as_view(
            template_name="registration/login.html", authentication_form=EmailLoginForm
        ),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("organization/switch/", workspace_views.switch_organization, name="switch-organization"),
    path("healthz", views.healthz, name="healthz"),
    # Asked by RabbitMQ's auth_http backend (CLOUDSIGNAL_BROKER=rabbitmq); 404 without the secret.
    path("rabbitmq-auth/<str:secret>/<str:question>", rabbitmq_auth.ask, name="rabbitmq-auth"),
    path("help/username-format/", views.help_username_format, name="help-username-format"),
    path("help/first-connection/", views.help_first_connection, name="help-first-connection"),
    path("help/ca-certificate.pem", views.ca_certificate, name="ca-certificate"),
    path("clients/", include("clients.urls")),
    path("acl/", include("clients.acl.urls")),
    path("api/v1/", include((api_urls.urlpatterns, api_urls.app_name), namespace=api_urls.namespace)),
    path("", include((workspace_pages, workspace_urls.app_name))),
    path("", include("workspaces.account_urls")),
]
