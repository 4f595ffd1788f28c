"""The WebSocket hook, through the real Redis channel layer."""

import asyncio
import uuid

from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer

from events.handlers import broadcast, broadcast_all, entity_group


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


def test_a_batch_reaches_every_group_in_order():
    subjects = [str(uuid.uuid4()), str(uuid.uuid4())]
    sent = [envelope(subjects[index % 2]) for index in range(5)]

    async def scenario() -> tuple[list, list, list]:
        layer = get_channel_layer()
        topic_channel = await layer.new_channel()
        entity_channels = [await layer.new_channel() for _ in subjects]
        await layer.group_add("tms.loads", topic_channel)
        for subject, channel in zip(subjects, entity_channels, strict=True):
            await layer.group_add(entity_group(subject), channel)
        try:
            await sync_to_async(broadcast_all)(sent)
            by_topic = [await _receive_matching(layer, topic_channel, event["id"]) for event in sent]
            by_entity = [
                [await layer.receive(channel) for _ in sent[index::2]]
                for index, channel in enumerate(entity_channels)
            ]
            return by_topic, *by_entity
        finally:
            await layer.group_discard("tms.loads", topic_channel)
            for subject, channel in zip(subjects, entity_channels, strict=True):
                await layer.group_discard(entity_group(subject), channel)

    by_topic, first, second = async_to_sync(scenario)()
    assert [message["event"] for message in by_topic] == sent
    assert [message["event"] for message in first] == sent[0::2]
    assert [message["event"] for message in second] == sent[1::2]
