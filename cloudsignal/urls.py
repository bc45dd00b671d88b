from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from workspaces import views as workspace_views
from workspaces.forms import EmailLoginForm

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
    path("healthz", workspace_views.healthz, name="healthz"),
    path("clients/", include("clients.urls")),
    path("acl/", include("clients.acl.urls")),
    path("", include("workspaces.urls")),
]
