from django.conf import settings
from django.http import HttpRequest


def organization(request: HttpRequest) -> dict[str, object]:
    return {
        "organization": getattr(request, "organization", None),
        "membership": getattr(request, "membership", None),
        "memberships": getattr(request, "memberships", []),
        "broker": {
            "host": settings.PUBLIC_HOST,
            "mqtt_port": settings.MQTT_PORT,
            "mqtts_port": settings.MQTTS_PORT,
            "ws_port": settings.WS_PORT,
        },
    }
