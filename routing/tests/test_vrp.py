"""The integer model (routing.vrp.solve_model): pickup and delivery, capacities, driving limits,
time windows, open routes and schedules, on models small enough to solve by hand. Time limits are
fractions of a second: each solve searches for all of its limit, and the optimum is found well
within it.
"""

import pytest

from routing.vrp import RoutingProblem, Vehicle, solve_model

# Seconds per solve. A solve does not stop when it has the optimum: its default search (guided
# local search, as fleet plans use) runs until the time limit. These tiny models reach their
# optimum well within it.
QUICK = 0.3


# --------------------------------------------------------------------------- pickup and delivery


def _costs(size: int, cheap: dict[tuple[int, int], int], default: int = 50) -> list[list[int]]:
    return [[0 if i == j else cheap.get((i, j), default) for j in range(size)] for i in range(size)]


def _on_board(problem: RoutingProblem, route: list[int]) -> list[int]:
    load, profile = 0, []
    for node in route:
        load += problem.quantities[0][node]
        profile.append(load)
    return profile


def test_pickup_precedes_its_delivery_even_when_the_reverse_is_cheaper():
    # 0 -> 2 -> 1 -> 0 costs 3; the pickup-first tour 0 -> 1 -> 2 -> 0 costs 150.
    problem = RoutingProblem(
        travel_cost=_costs(3, {(0, 2): 1, (2, 1): 1, (1, 0): 1}),
        travel_time=_costs(3, {}, 1),
        vehicles=[Vehicle(capacities=(1,))],
        quantities=[[0, 1, -1]],
        pickup_deliveries=[(1, 2)],
    )

    found = solve_model(problem, time_limit_s=QUICK)

    assert (found.routes, found.cost, found.unserved) == ([[1, 2]], 150, [])


def test_pickup_and_delivery_pairs_share_a_vehicle_and_respect_capacity_and_windows():
    # Three loads between six stops on two vehicles; capacity 1 means one load on board at a
    # time, and load 2 cannot be picked up before t=250.
    pairs = [(1, 2), (3, 4), (5, 6)]
    windows = [(0, 1000), (0, 100), (0, 200), (250, 300), (0, 1000), (0, 1000), (0, 1000)]
    problem = RoutingProblem(
        travel_cost=_costs(7, {(2, 3): 5, (4, 5): 5}, 20),
        travel_time=_costs(7, {}, 10),
        vehicles=[Vehicle(capacities=(1,)), Vehicle(capacities=(1,))],
        quantities=[[0, 1, -1, 1, -1, 1, -1]],
        service_times=[0, 5, 5, 5, 5, 5, 5],
        time_windows=windows,
        pickup_deliveries=pairs,
    )

    found = solve_model(problem, time_limit_s=QUICK)

    assert found.unserved == []
    for pickup, delivery in pairs:
        (route,) = [route for route in found.routes if pickup in route]
        assert delivery in route and route.index(pickup) < route.index(delivery)
    assert all(0 <= load <= 1 for route in found.routes for load in _on_board(problem, route))


def test_max_driving_time_splits_work_across_vehicles():
    # One vehicle could carry both loads (driving 4 x 10 + 10 = 50 > 45 allowed), so two are used.
    problem = RoutingProblem(
        travel_cost=_costs(5, {}, 10),
        travel_time=_costs(5, {}, 10),
        vehicles=[Vehicle(capacities=(2,), max_driving=45), Vehicle(capacities=(2,), max_driving=45)],
        quantities=[[0, 1, -1, 1, -1]],
        pickup_deliveries=[(1, 2), (3, 4)],
    )

    found = solve_model(problem, time_limit_s=QUICK)

    assert sorted(found.routes) == [[1, 2], [3, 4]]


@pytest.mark.parametrize(
    "windows",
    [
        # Load 2 must be delivered by t=15, but its pickup is 10 out and the delivery 10 further.
        [(0, 1000), (0, 1000), (0, 1000), (0, 1000), (0, 15)],
        # Load 2's delivery window closes before its pickup window opens.
        [(0, 1000), (0, 1000), (0, 1000), (100, 200), (0, 50)],
    ],
)
def test_a_load_no_vehicle_can_serve_is_left_out_whole_at_the_penalty(windows):
    problem = RoutingProblem(
        travel_cost=_costs(5, {}, 10),
        travel_time=_costs(5, {}, 10),
        vehicles=[Vehicle(capacities=(2,))],
        quantities=[[0, 1, -1, 1, -1]],
        time_windows=windows,
        pickup_deliveries=[(1, 2), (3, 4)],
        unserved_penalty=1000,
    )

    found = solve_model(problem, time_limit_s=QUICK)

    assert (found.routes, found.unserved, found.cost) == ([[1, 2]], [3, 4], 30 + 1000)


# --------------------------------------------------------------------------- fleet-shaped models


def test_vehicles_start_where_they_are_and_end_after_their_last_stop():
    # Nodes: 0 = open end (free to reach), 1 and 2 = the trucks' positions, 3 -> 4 and 5 -> 6 two
    # loads. Truck 1 is next to load 3 -> 4, truck 2 next to load 5 -> 6.
    cheap = {(1, 3): 1, (3, 4): 10, (2, 5): 1, (5, 6): 10}
    costs = _costs(7, cheap, 100)
    for node in range(7):
        costs[node][0] = 0
    problem = RoutingProblem(
        travel_cost=costs,
        travel_time=costs,
        vehicles=[Vehicle(start=1), Vehicle(start=2)],
        pickup_deliveries=[(3, 4), (5, 6)],
    )

    found = solve_model(problem, time_limit_s=QUICK)

    assert (found.routes, found.cost, found.unserved) == ([[3, 4], [5, 6]], 22, [])
    assert problem.stops == [3, 4, 5, 6]


def test_each_capacity_dimension_and_allowed_vehicles_bind():
    # Load 3 -> 4 is heavy (weight 8) and load 5 -> 6 bulky (volume 8): truck 1 carries weight,
    # truck 2 volume. Load 7 -> 8 is light but allowed on truck 1 only.
    costs = _costs(9, {}, 10)
    for node in range(9):
        costs[node][0] = 0
    problem = RoutingProblem(
        travel_cost=costs,
        travel_time=costs,
        vehicles=[Vehicle(capacities=(10, 2), start=1), Vehicle(capacities=(2, 10), start=2)],
        quantities=[[0, 0, 0, 8, -8, 1, -1, 1, -1], [0, 0, 0, 1, -1, 8, -8, 1, -1]],
        pickup_deliveries=[(3, 4), (5, 6), (7, 8)],
        allowed_vehicles={7: [0], 8: [0]},
    )

    found = solve_model(problem, time_limit_s=QUICK)

    assert {3, 4, 7, 8} == set(found.routes[0]) and sorted(found.routes[1]) == [5, 6]


def test_elapsed_time_is_what_the_clock_sees_and_travel_time_what_the_driving_limit_sees():
    # Driving 10 per leg, but 25 on the clock (rests on the way): the delivery window closing at
    # 40 is missed on the clock even though the driving (20) is well inside max_driving.
    costs = _costs(3, {}, 10)
    problem = RoutingProblem(
        travel_cost=costs,
        travel_time=costs,
        elapsed_time=_costs(3, {}, 25),
        vehicles=[Vehicle(max_driving=30)],
        time_windows=[(0, 1000), (0, 1000), (0, 40)],
        pickup_deliveries=[(1, 2)],
        unserved_penalty=1000,
    )

    assert solve_model(problem, time_limit_s=QUICK).unserved == [1, 2]

    problem.time_windows = [(0, 1000), (0, 1000), (0, 50)]
    found = solve_model(problem, time_limit_s=QUICK)

    assert (found.routes, found.schedules) == ([[1, 2]], [[0, 25, 50, 75]])


def test_the_schedule_serves_when_a_window_opens_and_leaves_no_earlier_than_needed():
    # Open end at node 0, the truck at node 1, a load 2 -> 3 whose pickup opens at t=100.
    costs = _costs(4, {}, 10)
    for node in range(4):
        costs[node][0] = 0
    problem = RoutingProblem(
        travel_cost=costs,
        travel_time=costs,
        vehicles=[Vehicle(start=1)],
        time_windows=[(0, 1000), (0, 1000), (100, 200), (0, 1000)],
        pickup_deliveries=[(2, 3)],
    )

    found = solve_model(problem, time_limit_s=QUICK)

    assert (found.routes, found.schedules) == ([[2, 3]], [[90, 100, 110, 110]])
