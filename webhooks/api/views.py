"""The webhooks API under /api/webhooks: subscriptions (ADMIN only), their deliveries, and the
enable, disable and test actions."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from tms.api import TmsModelViewSet
from tms.api_defaults import AdminsOnly
from webhooks import selectors, services
from webhooks.api.serializers import (
    DeliveryQuery,
    NoInput,
    WebhookDeliverySerializer,
    WebhookSubscriptionCreatedSerializer,
    WebhookSubscriptionSerializer,
)
from webhooks.models import WebhookSubscription


class WebhookSubscriptionViewSet(TmsModelViewSet):
    queryset = WebhookSubscription.objects.all()
    serializer_class = WebhookSubscriptionSerializer
    permission_classes = [AdminsOnly]
    filterset_fields = ["active"]
    search_fields = ["url", "description"]
    ordering_fields = ["created_at", "url"]
    create_service = services.create_subscription
    update_service = services.update_subscription
    delete_service = services.delete_subscription

    @extend_schema(responses={201: WebhookSubscriptionCreatedSerializer})
    def create(self, request, *args, **kwargs):
        """Subscribes a URL to events; the answer holds the signing secret, shown this once."""
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        created = WebhookSubscriptionCreatedSerializer(
            serializer.instance, context=self.get_serializer_context()
        )
        return Response(created.data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=WebhookSubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request, pk=None):
        """Enables a disabled subscription, its count of consecutive failures reset."""
        return self.run_action(NoInput, services.enable_subscription)

    @extend_schema(request=None, responses=WebhookSubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request, pk=None):
        """Disables a subscription: no new deliveries, its pending ones cancelled."""
        return self.run_action(NoInput, services.disable_subscription)

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"], url_path="test")
    def send_test(self, request, pk=None):
        """Queues a test delivery (a SYSTEM_ALERT marked `details.test`) to this subscription."""
        delivery = services.send_test_delivery(self.get_object(), by=request.user)
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(parameters=[DeliveryQuery], responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"], filter_backends=[], query_serializer=DeliveryQuery)
    def deliveries(self, request, pk=None):
        """The subscription's deliveries, newest first, with each one's attempts and last answer."""
        query = self.query_serializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        deliveries = selectors.deliveries_of(self.get_object())
        if "status" in query.validated_data:
            deliveries = deliveries.filter(status=query.validated_data["status"])
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)
