"""What a DRIVER may see of the live stream (loads.selectors): their driver record, their active
loads and those loads' vehicles, read from the database, and the rule applied to each event."""

import uuid

import pytest

from drivers.tests.factories import DriverFactory
from fleet.tests.factories import VehicleFactory
from loads import services
from loads.selectors import DriverScope, driver_may_see, read_driver_scope
from loads.tests.factories import LoadFactory
from tms.tests.factories import UserFactory

V1, V2, C1, L1, D1 = (str(uuid.uuid4()) for _ in range(5))
SCOPE = DriverScope(driver_id=D1, load_ids=frozenset({L1}), vehicle_ids=frozenset({V1}))


@pytest.mark.parametrize(
    "topic, data, visible",
    [
        ("tms.loads", {"load_id": L1, "driver_id": D1}, True),
        ("tms.loads", {"load_id": L1, "driver_id": None, "previous_driver_id": D1}, True),
        ("tms.loads", {"load_id": L1, "driver_id": str(uuid.uuid4())}, False),
        ("tms.drivers", {"driver_id": D1}, True),
        ("tms.drivers", {"driver_id": str(uuid.uuid4())}, False),
        ("tms.vehicles.tracking", {"vehicle_id": V1}, True),
        ("tms.vehicles", {"vehicle_id": V2}, False),
        ("tms.routes", {"load_id": L1}, True),
        ("tms.routes", {"load_id": str(uuid.uuid4()), "driver_id": D1}, True),
        ("tms.routes", {"load_id": str(uuid.uuid4())}, False),
        ("tms.carriers", {"carrier_id": C1, "driver_id": D1}, False),
    ],
)
def test_a_driver_sees_only_their_own_work(topic, data, visible):
    assert driver_may_see(SCOPE, topic, data) is visible


@pytest.mark.parametrize("topic", ["tms.loads", "tms.drivers", "tms.vehicles.tracking", "tms.routes"])
def test_a_driver_user_without_a_driver_record_sees_nothing(topic):
    nobody = DriverScope(driver_id=None, load_ids=frozenset(), vehicle_ids=frozenset())
    assert driver_may_see(nobody, topic, {"driver_id": None, "previous_driver_id": None}) is False


@pytest.mark.django_db
def test_the_scope_is_the_drivers_record_active_loads_and_their_vehicles():
    user = UserFactory(username="scoped-driver")
    driver = DriverFactory(user=user)
    vehicle = VehicleFactory(carrier=driver.carrier)
    load = LoadFactory()
    services.assign_load(load, by=None, vehicle=vehicle, driver=driver)

    assert read_driver_scope(user.pk) == DriverScope(
        driver_id=str(driver.pk), load_ids=frozenset({str(load.pk)}), vehicle_ids=frozenset({str(vehicle.pk)})
    )
    for step in (services.pick_up_load, services.start_transit, services.deliver_load):
        step(load, by=None)
    assert read_driver_scope(user.pk) == DriverScope(str(driver.pk), frozenset(), frozenset())


@pytest.mark.django_db
def test_a_login_without_a_driver_record_has_an_empty_scope(django_assert_num_queries):
    user = UserFactory(username="no-record")
    with django_assert_num_queries(1):
        assert read_driver_scope(user.pk) == DriverScope(None, frozenset(), frozenset())
