from django.apps import AppConfig


class CloudSignalConfig(AppConfig):
    """Installed so that `serve` and `runbroker` are management commands."""

    name = "cloudsignal"
    verbose_name = "CloudSignal"
