"""Stored fleet plans and route scores speak the API's names (issue 12 item 1: related objects as
`*_id`), so a plan proposed before the rename can still be read, accepted and followed.

Forward: a plan's request (`loads`, `vehicles` -> `load_ids`, `vehicle_ids`), result (each route's
`vehicle`, `driver`, `carrier`, `loads` -> `vehicle_id`, `driver_id`, `carrier_id`, `load_ids`; each
stop's and unserved load's `load` -> `load_id`; each idle truck's `vehicle` -> `vehicle_id`) and
acceptance (each outcome's `load`, `vehicle` -> `load_id`, `vehicle_id`). Plans written before the
seed's names also had `unit_number` where the code writes `vehicle_number` since, and routes scored
before them `delivery_at` in the score's slack where the code writes `delivery_datetime`: those are
renamed too.

Backward: the `*_id` keys get their old names back. `vehicle_number` and `delivery_datetime` stay:
the code at 0006 already wrote them.
"""

from django.db import migrations

ID_KEYS = {"load": "load_id", "vehicle": "vehicle_id", "driver": "driver_id", "carrier": "carrier_id"}
PLAN_REQUEST_KEYS = {"loads": "load_ids", "vehicles": "vehicle_ids"}
PLAN_ROUTE_KEYS = {**ID_KEYS, "loads": "load_ids"}
FORWARD_ONLY = {"unit_number": "vehicle_number"}


def _renamed(item: dict, names: dict) -> dict:
    return {names.get(key, key): value for key, value in item.items()}


def _plan(request: dict, result: dict, acceptance: dict | None, names: dict, route_names: dict):
    request = _renamed(request or {}, names["request"])
    result = dict(result or {})
    if "routes" in result:
        result["routes"] = [
            {
                **_renamed(route, route_names),
                "stops": [_renamed(stop, names["ids"]) for stop in route.get("stops", [])],
            }
            for route in result["routes"]
        ]
    for key in ("unserved", "idle_vehicles"):
        if key in result:
            result[key] = [_renamed(item, names["ids"]) for item in result[key]]
    if acceptance and "loads" in acceptance:
        acceptance = {**acceptance, "loads": [_renamed(item, names["ids"]) for item in acceptance["loads"]]}
    return request, result, acceptance


def _convert(apps, *, forward: bool) -> None:
    invert = (lambda names: names) if forward else (lambda names: {new: old for old, new in names.items()})
    extra = FORWARD_ONLY if forward else {}
    names = {"request": invert(PLAN_REQUEST_KEYS), "ids": {**invert(ID_KEYS), **extra}}
    route_names = {**invert(PLAN_ROUTE_KEYS), **extra}
    FleetPlan = apps.get_model("routing", "FleetPlan")
    for plan in FleetPlan.objects.only("pk", "request", "result", "acceptance").iterator(chunk_size=500):
        request, result, acceptance = _plan(plan.request, plan.result, plan.acceptance, names, route_names)
        FleetPlan.objects.filter(pk=plan.pk).update(request=request, result=result, acceptance=acceptance)
    if forward:
        Route = apps.get_model("routing", "Route")
        scored = Route.objects.filter(score_explanation__slack__has_key="delivery_at")
        for route in scored.only("pk", "score_explanation").iterator(chunk_size=500):
            explanation = dict(route.score_explanation)
            explanation["slack"] = _renamed(explanation["slack"], {"delivery_at": "delivery_datetime"})
            Route.objects.filter(pk=route.pk).update(score_explanation=explanation)


def forwards(apps, schema_editor):
    _convert(apps, forward=True)


def backwards(apps, schema_editor):
    _convert(apps, forward=False)


class Migration(migrations.Migration):
    dependencies = [
        ("routing", "0006_fleet_plan_queue_attempts"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
