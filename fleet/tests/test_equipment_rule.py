"""fleet.rules.equipment_mismatch: the one equipment rule of assignment and fleet plans."""

from decimal import Decimal as D

import pytest

from fleet.rules import equipment_mismatch


def truck(vehicle_type="DRY_VAN", low=None, high=None):
    return {"vehicle_type": vehicle_type, "temperature_min_c": low, "temperature_max_c": high}


def load(required="", low=None, high=None):
    return {"required_equipment": required, "temperature_min_c": low, "temperature_max_c": high}


@pytest.mark.parametrize(
    ("vehicle", "freight", "reason"),
    [
        (truck("TANKER"), load(), None),
        (truck("DRY_VAN"), load("DRY_VAN"), None),
        (truck("TANKER"), load("DRY_VAN"), "The load needs a dry van; the truck is a tanker."),
        (
            truck("REEFER", D("-25"), D("25")),
            load("DRY_VAN"),
            "The load needs a dry van; the truck is a reefer.",
        ),
        (truck("FLATBED"), load("STEP_DECK"), "The load needs a step deck; the truck is a flatbed."),
        (truck("REEFER"), load("REEFER"), None),
        (truck("REEFER", D("-25"), D("25")), load("REEFER", D("-20"), D("-18")), None),
        (truck("REEFER", D("-20"), D("25")), load("REEFER", D("-20"), D("-18")), None),  # the edge holds
        (
            truck("REEFER", D("-10"), D("25")),
            load("REEFER", D("-20"), D("-18")),
            "The load needs -20 to -18 °C; the truck's reefer unit holds -10 to 25 °C.",
        ),
        (
            truck("REEFER", D("-25"), D("4")),
            load("REEFER", D("2"), D("8")),
            "The load needs 2 to 8 °C; the truck's reefer unit holds -25 to 4 °C.",
        ),
        # One bound: the freight is kept at it.
        (truck("REEFER", D("-25"), D("4")), load("REEFER", None, D("-18")), None),
        (
            truck("REEFER", D("-5"), D("4")),
            load("REEFER", None, D("-18.5")),
            "The load needs -18.5 °C; the truck's reefer unit holds -5 to 4 °C.",
        ),
        (
            truck("REEFER"),
            load("REEFER", D("2"), D("8")),
            "The load needs temperature control; the truck has no reefer unit range on file.",
        ),
        # A temperature range without a required type still needs a unit that holds it.
        (
            truck("DRY_VAN"),
            load("", D("2"), D("8")),
            "The load needs temperature control; the truck has no reefer unit range on file.",
        ),
        (truck("REEFER", D("0"), D("10")), load("", D("2"), D("8")), None),
    ],
)
def test_equipment_mismatch(vehicle, freight, reason):
    assert equipment_mismatch(vehicle, freight) == reason


def test_equipment_mismatch_reads_model_rows_as_well_as_mappings():
    from fleet.models import Vehicle
    from loads.models import Load

    vehicle = Vehicle(vehicle_type="REEFER", temperature_min_c=D("-25"), temperature_max_c=D("-10"))
    freight = Load(required_equipment="REEFER", temperature_min_c=D("2"), temperature_max_c=D("8"))
    assert equipment_mismatch(vehicle, freight) == (
        "The load needs 2 to 8 °C; the truck's reefer unit holds -25 to -10 °C."
    )
