import factory

from webhooks import sending
from webhooks.models import WebhookSubscription


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookSubscription

    url = "https://93.184.215.14/hooks/tms?token=abc"
    event_types = factory.LazyFunction(list)
    secret = factory.LazyFunction(sending.new_secret)
    description = factory.Sequence(lambda n: f"receiver {n}")
