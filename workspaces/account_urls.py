"""Pages about you rather than your organization: your account, an invitation link, a set-password link."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from workspaces import account_views

urlpatterns = [
    path("account/", account_views.account, name="account"),
    path("account/password/", account_views.change_password, name="account-password"),
    path("account/sign-out-others/", account_views.sign_out_others, name="sign-out-others"),
    path("invitations/<str:token>/", account_views.invitation, name="invitation"),
    path(
        "account/set-password/<str:uidb64>/<str:token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="registration/set_password.html", success_url=reverse_lazy("login")
        ),
        name="set-password",
    ),
]
