"""The equipment rule (fleet.rules.equipment_mismatch): which truck may haul which freight."""

from decimal import Decimal
from types import SimpleNamespace

import pytest

from fleet.models import VehicleType
from fleet.rules import equipment_mismatch, vehicle_types_for

DRY_VAN, REEFER, FLATBED, STEP_DECK, TANKER, BOX_TRUCK = (
    VehicleType.DRY_VAN,
    VehicleType.REEFER,
    VehicleType.FLATBED,
    VehicleType.STEP_DECK,
    VehicleType.TANKER,
    VehicleType.BOX_TRUCK,
)


def truck(vehicle_type, unit=(None, None)):
    low, high = (Decimal(str(t)) if t is not None else None for t in unit)
    return SimpleNamespace(vehicle_type=vehicle_type, temperature_min_c=low, temperature_max_c=high)


def load(required="", temperatures=(None, None)):
    low, high = (Decimal(str(t)) if t is not None else None for t in temperatures)
    return SimpleNamespace(required_equipment=required, temperature_min_c=low, temperature_max_c=high)


# Every (required, truck type) pair: the exact type fits, plus the two accepted substitutions.
ACCEPTED = {(required, required) for required in VehicleType.values} | {
    (DRY_VAN, REEFER),
    (FLATBED, STEP_DECK),
}


@pytest.mark.parametrize("required", VehicleType.values)
@pytest.mark.parametrize("vehicle_type", VehicleType.values)
def test_truck_type_against_required_equipment(required, vehicle_type):
    temperatures = (-20, -15) if required == REEFER else (None, None)
    unit = (-25, 20) if vehicle_type == REEFER else (None, None)
    reason = equipment_mismatch(truck(vehicle_type, unit), load(required, temperatures))
    if (required, vehicle_type) in ACCEPTED:
        assert reason is None
    else:
        needed = VehicleType(required).label.lower()
        has = VehicleType(vehicle_type).label.lower()
        assert reason == f"The load needs a {needed}; the truck is a {has}."


@pytest.mark.parametrize("vehicle_type", VehicleType.values)
def test_freight_without_required_equipment_takes_any_truck(vehicle_type):
    assert equipment_mismatch(truck(vehicle_type), load("")) is None


@pytest.mark.parametrize(
    ("unit", "temperatures", "fits"),
    [
        ((-25, 20), (-20, -15), True),  # frozen, well inside
        ((-25, 20), (-25, 20), True),  # the unit's whole range: edges count
        ((-25, 20), (2, 4), True),  # fresh produce
        ((-10, 20), (-20, -15), False),  # deep frozen, unit not cold enough
        ((-25, 0), (2, 4), False),  # a freezer-only unit cannot hold 4 °C
        ((-25, 20), (-26, 0), False),  # one degree below the unit
        ((-25, 20), (0, 21), False),  # one degree above the unit
        ((-25, 20), (Decimal("-25.1"), 0), False),  # a tenth counts
        ((None, None), (2, 4), False),  # unit range not recorded
    ],
)
def test_reefer_unit_must_cover_the_freight_range(unit, temperatures, fits):
    reason = equipment_mismatch(truck(REEFER, unit), load(REEFER, temperatures))
    assert (reason is None) is fits
    if not fits and unit[0] is not None:
        assert "the reefer unit holds" in reason


def test_the_reason_names_both_ranges():
    reason = equipment_mismatch(truck(REEFER, (-10, 20)), load(REEFER, (-20, "-15.5")))
    assert reason == "The load must stay between -20 °C and -15.5 °C; the reefer unit holds -10 °C to 20 °C."


def test_unrecorded_unit_range_is_refused_with_its_reason():
    reason = equipment_mismatch(truck(REEFER), load(REEFER, (2, 4)))
    assert (
        reason == "The reefer's unit range is not recorded; it cannot be trusted with refrigerated freight."
    )


def test_reefer_hauls_dry_freight_with_its_unit_off_whatever_its_range():
    assert equipment_mismatch(truck(REEFER), load(DRY_VAN)) is None
    assert equipment_mismatch(truck(REEFER, (-25, -20)), load(DRY_VAN)) is None


def test_a_temperature_range_means_reefer_even_without_required_equipment():
    # Rows from before the rule: the range alone still keeps the freight off a dry van.
    assert equipment_mismatch(truck(DRY_VAN), load("", (2, 4))) == (
        "The load needs a reefer; the truck is a dry van."
    )
    assert equipment_mismatch(truck(REEFER, (-25, 20)), load("", (2, 4))) is None


def test_model_instances_and_floats_work_too():
    assert (
        equipment_mismatch(
            SimpleNamespace(vehicle_type="REEFER", temperature_min_c=-25.0, temperature_max_c=20.0),
            SimpleNamespace(required_equipment="REEFER", temperature_min_c=-18.0, temperature_max_c=-15.0),
        )
        is None
    )


def test_vehicle_types_for_matches_the_rule():
    for required in ["", *VehicleType.values]:
        for vehicle_type in VehicleType.values:
            temperatures = (-20, -15) if required == REEFER else (None, None)
            unit = (-25, 20) if vehicle_type == REEFER else (None, None)
            fits = equipment_mismatch(truck(vehicle_type, unit), load(required, temperatures)) is None
            assert (vehicle_type in vehicle_types_for(required)) is fits
