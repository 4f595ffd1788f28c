"""The event backbone over HTTP: publish a taxonomy event, see the topics, read the event store."""

import django_filters
from django.conf import settings
from django.db.models import Count, Q
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from events.models import OutboxEvent, StoredEvent
from events.outbox import InvalidEventData
from events.services import publish_event
from events.taxonomy import DEAD_LETTER_TOPIC, TOPICS, EventType
from tms.api import ChecksQueryString, ModelSerializer, Serializer, TypedJSONField
from tms.api_defaults import OperatorsAndViewers
from tms.exceptions import DependencyUnavailable
from tms.filters import MultipleChoiceFilter


class PublishInput(Serializer):
    type = serializers.ChoiceField(choices=[t.value for t in EventType])
    subject = serializers.CharField(max_length=64)
    data = serializers.DictField(
        help_text="The event type's data, validated against its schema (each type's schema is in "
        "/api/asyncapi.json, components.schemas)."
    )


class CloudEventSerializer(Serializer):
    """A CloudEvents 1.0 event in structured JSON, as every event travels (Kafka, /ws, the store)."""

    specversion = serializers.ChoiceField(choices=["1.0"])
    id = serializers.UUIDField()
    type = serializers.ChoiceField(choices=[t.value for t in EventType])
    source = serializers.CharField()
    subject = serializers.CharField(help_text="The aggregate's id.")
    time = serializers.DateTimeField()
    datacontenttype = serializers.ChoiceField(choices=["application/json"])
    dataschema = serializers.CharField(help_text="/schemas/{type}/v{version}: which schema `data` follows.")
    correlationid = serializers.CharField(allow_null=True, help_text="The X-Request-ID that caused it.")
    actor = serializers.IntegerField(required=False, help_text="The user who caused it, if any.")
    data = serializers.DictField(
        help_text="The type's data; each type's schema is in /api/asyncapi.json (components.schemas)."
    )


class TopicSerializer(Serializer):
    topic = serializers.CharField()
    unpublished = serializers.IntegerField(required=False, help_text="embedded: events still in the outbox")
    partitions = serializers.IntegerField(required=False, help_text="kafka")
    end_offsets = serializers.IntegerField(required=False, help_text="kafka: summed over partitions")
    lag = serializers.DictField(
        child=serializers.IntegerField(), required=False, help_text="kafka: each consumer group's lag"
    )


class PublishResult(Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    topic = serializers.CharField()


class PublishView(ChecksQueryString, APIView):
    permission_classes = [OperatorsAndViewers]

    @extend_schema(request=PublishInput, responses={202: PublishResult}, tags=["events"])
    def post(self, request):
        """Publishes any taxonomy event: its data is validated against the type's schema and it is
        routed to the type's topic through the outbox, like every other event."""
        payload = PublishInput(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            event = publish_event(**payload.validated_data, by=request.user)
        except InvalidEventData as error:
            raise exceptions.ValidationError({"data": [str(error)]}) from error
        return Response(
            {"id": event.id, "type": event.type, "topic": event.topic}, status=status.HTTP_202_ACCEPTED
        )


class TopicsView(ChecksQueryString, APIView):
    permission_classes = [OperatorsAndViewers]

    @extend_schema(
        responses=inline_serializer(
            "Topics",
            {
                "backend": serializers.ChoiceField(choices=["kafka", "embedded"]),
                "topics": TopicSerializer(
                    many=True,
                    help_text="kafka: topic, partitions, end offsets and each group's lag; "
                    "embedded: topic and the events still unpublished in the outbox",
                ),
            },
        ),
        tags=["events"],
    )
    def get(self, request):
        """Every topic with its partitions, end offsets and consumer-group lag (Kafka), or the
        events still waiting in the outbox (embedded)."""
        if settings.KAFKA_BOOTSTRAP_SERVERS:
            from events.kafka import describe_topics

            try:
                return Response({"backend": "kafka", "topics": describe_topics()})
            except Exception as error:  # the broker is a dependency of this call
                raise DependencyUnavailable(f"Kafka is unavailable: {error}") from error
        waiting = dict(
            OutboxEvent.objects.values_list("topic").annotate(
                n=Count("sequence", filter=Q(published_at=None))
            )
        )
        topics = sorted(set(TOPICS.values()) | {DEAD_LETTER_TOPIC})
        return Response(
            {
                "backend": "embedded",
                "topics": [{"topic": topic, "unpublished": waiting.get(topic, 0)} for topic in topics],
            }
        )


class StoredEventSerializer(ModelSerializer):
    envelope = TypedJSONField(schema=CloudEventSerializer, read_only=True)

    class Meta:
        model = StoredEvent
        fields = ["event_id", "type", "subject", "time", "correlation_id", "envelope"]


class StoredEventFilter(django_filters.FilterSet):
    type = MultipleChoiceFilter(choices=[(t.value, t.value) for t in EventType])
    start = django_filters.IsoDateTimeFilter(field_name="time", lookup_expr="gte")
    end = django_filters.IsoDateTimeFilter(field_name="time", lookup_expr="lt")

    class Meta:
        model = StoredEvent
        fields = ["type", "subject", "correlation_id"]


class StoredEventList(generics.ListAPIView):
    """The event store: every relayed event, newest first; filter by type, subject (the
    aggregate id), correlation id and time range [start, end)."""

    permission_classes = [OperatorsAndViewers]
    serializer_class = StoredEventSerializer
    filterset_class = StoredEventFilter
    ordering_fields = ["time"]
    search_fields: list[str] = []

    def get_queryset(self):
        return StoredEvent.objects.using(settings.TIMESERIES_DATABASE_ALIAS).order_by("-time")
