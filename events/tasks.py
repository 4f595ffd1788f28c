from celery import shared_task

from events import relay


@shared_task(ignore_result=True)
def relay_outbox() -> int:
    """Woken on commit: publishes what is waiting in the outbox."""
    return relay.relay_pending()
