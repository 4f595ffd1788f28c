"""What the webhooks API takes and gives."""

from rest_framework import serializers

from events.api.views import CloudEventSerializer
from events.taxonomy import EventType
from tms.api import ModelSerializer, PagedQuery, Serializer, TypedJSONField
from webhooks.models import DeliveryStatus, WebhookDelivery, WebhookSubscription


class WebhookSubscriptionSerializer(ModelSerializer):
    event_types = serializers.ListField(
        child=serializers.ChoiceField(choices=[t.value for t in EventType]),
        required=False,
        allow_empty=True,
        help_text="Event types delivered (the event taxonomy's); empty or left out: every type.",
    )
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=128,
        help_text=(
            "Signing secret, whsec_ + base64 of 24-64 random bytes. Left out on create: one is "
            "generated. Never shown again after the create response; send a new one to replace it."
        ),
    )

    class Meta:
        model = WebhookSubscription
        fields = [
            "id",
            "url",
            "event_types",
            "description",
            "secret",
            "active",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["active", "consecutive_failures", "disabled_at", "disabled_reason"]


class WebhookSubscriptionCreatedSerializer(WebhookSubscriptionSerializer):
    """The create response: the subscription with its secret, the only time it is shown."""

    secret = serializers.CharField(read_only=True, help_text="The signing secret: store it now.")


class WebhookDeliverySerializer(ModelSerializer):
    payload = TypedJSONField(
        schema=CloudEventSerializer, read_only=True, help_text="The CloudEvent sent as the request body."
    )

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "delivered_at",
            "response_status_code",
            "response_body",
            "response_duration_ms",
            "error",
            "payload",
            "created_at",
        ]
        read_only_fields = fields


class NoInput(Serializer):
    """An action that takes no body."""


class DeliveryQuery(PagedQuery):
    status = serializers.ChoiceField(choices=DeliveryStatus.choices, required=False)
