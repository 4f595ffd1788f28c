"""The webhooks app's reaction to events: the `webhooks` consumer."""

from events.consumers import register
from webhooks import services


@register("webhooks")
def record_webhook_deliveries(envelope: dict) -> None:
    """Every event, whatever its type: a delivery for each active subscription that wants it
    (sent by `manage.py send_webhooks`, never here). The envelope is forwarded whole, so nothing
    here depends on an event's fields; an event seen twice adds no delivery."""
    services.record_deliveries_without_audit(envelope)
