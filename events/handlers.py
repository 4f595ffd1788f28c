"""The built-in consumers: registered when the app is ready."""

import asyncio
import os
import threading
from datetime import datetime

from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

from events.anomaly import observe_mutation
from events.consumers import register
from events.models import StoredEvent
from events.taxonomy import TELEMETRY, TOPICS, EventType


@register("event-store")
def store_event(envelope: dict) -> None:
    """Appends every event to the event store (the `timeseries` database)."""
    StoredEvent.objects.using(settings.TIMESERIES_DATABASE_ALIAS).bulk_create(
        [
            StoredEvent(
                event_id=envelope["id"],
                type=envelope["type"],
                subject=envelope["subject"],
                time=envelope["time"],
                correlation_id=envelope.get("correlationid") or "",
                envelope=envelope,
            )
        ],
        ignore_conflicts=True,
    )


def topic_group(topic: str) -> str:
    return topic  # "tms.loads": already a valid Channels group name


def entity_group(subject: str) -> str:
    return f"entity.{subject}"[:99]


class _LayerLoop:
    """One long-lived event loop per process for the channel layer. `async_to_sync` would start
    a loop, and with it a Redis connection, for every event (about 10 ms each)."""

    _loop: asyncio.AbstractEventLoop | None = None
    _pid: int | None = None
    _lock = threading.Lock()

    @classmethod
    def run(cls, coroutine, timeout_s: float = 5.0):
        with cls._lock:
            if cls._loop is None or cls._pid != os.getpid():  # none yet, or inherited by a fork
                cls._loop = asyncio.new_event_loop()
                cls._pid = os.getpid()
                threading.Thread(target=cls._loop.run_forever, name="channel-layer", daemon=True).start()
        return asyncio.run_coroutine_threadsafe(coroutine, cls._loop).result(timeout_s)


def broadcast_all(envelopes: list[dict]) -> None:
    """The WebSocket hook: hands each event, in order, to the Channels groups of its topic and of
    its aggregate; WebSocket consumers join the groups their clients subscribe to. Groups stay
    small (per topic, per entity), as channels-redis is slow with large ones. A consumer group's
    whole batch goes to the layer's loop at once, one hand-over between threads, and to Redis in
    one pipeline (see _publish_pipelined)."""
    layer = get_channel_layer()
    if layer is None or not envelopes:
        return
    messages = []
    for envelope in envelopes:
        message = {"type": "tms.event", "event": envelope}
        messages.append((topic_group(TOPICS[EventType(envelope["type"])]), message))
        messages.append((entity_group(envelope["subject"]), message))
    if isinstance(layer, RedisPubSubChannelLayer):
        coroutine = _publish_pipelined(layer, messages)
    else:
        coroutine = _group_send_each(layer, messages)
    _LayerLoop.run(coroutine, timeout_s=5.0 + 0.001 * len(messages))


async def _group_send_each(layer, messages: list[tuple[str, dict]]) -> None:
    for group, message in messages:
        await layer.group_send(group, message)


async def _publish_pipelined(layer: RedisPubSubChannelLayer, messages: list[tuple[str, dict]]) -> None:
    """What `group_send` does for each message (the layer's serialisation, its group channel and
    shard, its connection and lock), in one Redis pipeline per shard: one round trip for the batch
    instead of one per message, which made ~0.3-1 ms an event. Order is kept within each shard."""
    loop_layer = layer._get_layer()
    by_shard: dict = {}
    payloads: dict[int, bytes] = {}  # a message is serialised once for all its groups
    for group, message in messages:
        channel = loop_layer._get_group_channel_name(group)
        payload = payloads.get(id(message)) or payloads.setdefault(id(message), layer.serialize(message))
        by_shard.setdefault(loop_layer._get_shard(channel), []).append((channel, payload))
    for shard, publishes in by_shard.items():
        async with shard._lock:
            shard._ensure_redis()
            pipeline = shard._redis.pipeline(transaction=False)
            for channel, payload in publishes:
                pipeline.publish(channel, payload)
            await pipeline.execute()


@register("websocket-broadcast", batched=True, batch_handler=broadcast_all)
def broadcast(envelope: dict) -> None:
    """One event to the WebSocket groups (the in-process relay's way; see broadcast_all)."""
    broadcast_all([envelope])


def _a_users_change(envelope: dict) -> bool:
    return envelope.get("actor") is not None and envelope.get("type") not in TELEMETRY


@register("anomaly-detector", accepts=_a_users_change)
def detect_anomalies(envelope: dict) -> None:
    """Anomaly detection (events/anomaly.py): each event a user's request emitted is one change by
    that user at the event's time. Events the system emits on its own (no actor), the detector's own
    alerts among them, and telemetry (position fixes, however a user's token sent them) are skipped
    before any database work."""
    observe_mutation(envelope["actor"], datetime.fromisoformat(envelope["time"]).timestamp())
