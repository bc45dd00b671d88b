from django.apps import AppConfig


class WorkspacesConfig(AppConfig):
    name = "workspaces"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from axes.signals import user_locked_out
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from workspaces import signins

        user_logged_in.connect(signins.on_signed_in, dispatch_uid="audit-signed-in")
        user_login_failed.connect(signins.on_signin_failed, dispatch_uid="audit-signin-failed")
        user_locked_out.connect(signins.on_locked_out, dispatch_uid="audit-locked-out")
