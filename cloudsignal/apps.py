from django.apps import AppConfig


class CloudSignalConfig(AppConfig):
    """Installed so that `serve`, `runbroker` and `cluster` are management commands."""

    name = "cloudsignal"
    verbose_name = "CloudSignal"

    def ready(self) -> None:
        # Each receiver checks CLOUDSIGNAL_BROKER when it runs: connected always, inert when embedded.
        from cloudsignal.rabbitmq import vhosts

        vhosts.connect()
