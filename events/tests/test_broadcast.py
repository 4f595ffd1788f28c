"""The WebSocket hook, through the real Redis channel layer."""

import asyncio
import uuid

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from events.handlers import broadcast, entity_group


def envelope(subject: str) -> dict:
    return {"id": str(uuid.uuid4()), "type": "LOAD_DELIVERED", "subject": subject, "data": {}}


async def _receive_matching(layer, channel: str, event_id: str) -> dict:
    while True:  # other tests may publish on the same topic group meanwhile
        message = await asyncio.wait_for(layer.receive(channel), timeout=3)
        if message["event"]["id"] == event_id:
            return message


def test_an_event_reaches_its_topic_and_entity_groups():
    subject = str(uuid.uuid4())
    sent = envelope(subject)

    async def scenario() -> tuple[dict, dict]:
        layer = get_channel_layer()
        topic_channel = await layer.new_channel()
        entity_channel = await layer.new_channel()
        await layer.group_add("tms.loads", topic_channel)
        await layer.group_add(entity_group(subject), entity_channel)
        try:
            await sync_to_async(broadcast)(sent)
            return (
                await _receive_matching(layer, topic_channel, sent["id"]),
                await _receive_matching(layer, entity_channel, sent["id"]),
            )
        finally:
            await layer.group_discard("tms.loads", topic_channel)
            await layer.group_discard(entity_group(subject), entity_channel)

    by_topic, by_entity = async_to_sync(scenario)()
    assert by_topic == by_entity == {"type": "tms.event", "event": sent}
