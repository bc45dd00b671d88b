"""Pages about you rather than your organization: your account, an invitation link, a set-password link."""

from django.urls import path

from workspaces import account_views

urlpatterns = [
    path("account/", account_views.account, name="account"),
    path("account/password/", account_views.change_password, name="account-password"),
    path("account/sign-out-others/", account_views.sign_out_others, name="sign-out-others"),
    path("invitations/<str:token>/", account_views.invitation, name="invitation"),
    path(
        "account/set-password/<str:uidb64>/<str:token>/",
        account_views.SetPasswordView.as_view(),
        name="set-password",
    ),
]
