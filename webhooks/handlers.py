"""The webhooks app's reaction to events: the `webhooks` consumer."""

from events.consumers import register
from webhooks import selectors, services


def _wanted_by_a_subscription(envelope: dict) -> bool:
    wanted = selectors.wanted_event_types()
    return selectors.EVERY_TYPE in wanted or envelope["type"] in wanted


@register("webhooks", accepts=_wanted_by_a_subscription)
def record_webhook_deliveries(envelope: dict) -> None:
    """Every event, whatever its type: a delivery for each active subscription that wants it
    (sent by `manage.py send_webhooks`, never here). The envelope is forwarded whole, so nothing
    here depends on an event's fields; an event seen twice adds no delivery."""
    services.record_deliveries_without_audit(envelope)
