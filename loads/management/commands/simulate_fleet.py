"""`manage.py simulate_fleet`: drives the demo fleet through the public API, so the dispatch board,
the geofences and the event stream see trucks move.

A vehicle on an active load drives to its pickup facility, waits there, then drives to the
delivery facility (along the load's current route when it has one, else along the great circle)
and waits again; a vehicle without a load drives to one of the facilities near it. Trucks cruise
at ROUTING_AVERAGE_SPEED_KMH and slow down for the last kilometre; `--speedup` makes time run
faster. Each reported fix carries a few metres of GPS noise.

Positions go in through `POST /api/tracking/batch` when the server offers it, else one
`PUT /api/vehicles/{id}/location` per vehicle. One line per tick; Ctrl-C stops it.
"""

import itertools
import json
import math
import random
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from typing import Any, NamedTuple

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tms.geo import EARTH_RADIUS_M

APPROACH_M = 1000  # the last stretch to a facility, driven slowly
APPROACH_KMH = 30.0
GPS_NOISE_M = 8.0
PICKUP_DWELL_S = 30 * 60
DELIVERY_DWELL_S = 45 * 60
IDLE_DWELL_S = 20 * 60
ACTIVE_STATUSES = ["ASSIGNED", "PICKED_UP", "IN_TRANSIT", "DELAYED"]
PARKED_STATUSES = {"MAINTENANCE", "OUT_OF_SERVICE"}
PARALLEL_REQUESTS = 4  # one fix per vehicle per tick, so a vehicle's fixes stay in order


# --- Geometry: pure functions on (longitude, latitude) in degrees ---------------------------------


class LonLat(NamedTuple):
    lon: float
    lat: float


def distance_m(a: LonLat, b: LonLat) -> float:
    """Great-circle (haversine) distance, metres."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a.lon, a.lat, b.lon, b.lat))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def bearing_deg(a: LonLat, b: LonLat) -> float:
    """Initial compass bearing from a to b, degrees clockwise from north in [0, 360)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a.lon, a.lat, b.lon, b.lat))
    y = math.sin(lon2 - lon1) * math.cos(lat2)
    x = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(lon2 - lon1)
    return math.degrees(math.atan2(y, x)) % 360


def interpolate(a: LonLat, b: LonLat, fraction: float) -> LonLat:
    """The point `fraction` of the way from a to b along the great circle (spherical slerp)."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a.lon, a.lat, b.lon, b.lat))
    angle = distance_m(a, b) / EARTH_RADIUS_M
    if angle < 1e-12:
        return a
    wa, wb = math.sin((1 - fraction) * angle) / math.sin(angle), math.sin(fraction * angle) / math.sin(angle)
    x = wa * math.cos(lat1) * math.cos(lon1) + wb * math.cos(lat2) * math.cos(lon2)
    y = wa * math.cos(lat1) * math.sin(lon1) + wb * math.cos(lat2) * math.sin(lon2)
    z = wa * math.sin(lat1) + wb * math.sin(lat2)
    return LonLat(math.degrees(math.atan2(y, x)), math.degrees(math.atan2(z, math.hypot(x, y))))


def along(path: list[LonLat], travelled_m: float) -> tuple[LonLat, float]:
    """(position, heading) after `travelled_m` metres along a polyline; clamped to its ends."""
    if len(path) == 1:
        return path[0], 0.0
    for a, b in itertools.pairwise(path):
        segment = distance_m(a, b)
        if travelled_m <= segment and segment > 0:
            return interpolate(a, b, max(travelled_m, 0.0) / segment), bearing_deg(a, b)
        travelled_m -= segment
    a, b = path[-2], path[-1]
    return b, bearing_deg(a, b) if a != b else 0.0


def path_length_m(path: list[LonLat]) -> float:
    return sum(distance_m(a, b) for a, b in itertools.pairwise(path))


def with_noise(point: LonLat, sigma_m: float, rng: random.Random) -> LonLat:
    """The point displaced by Gaussian GPS noise of `sigma_m` metres per axis."""
    north, east = rng.gauss(0, sigma_m), rng.gauss(0, sigma_m)
    lat = point.lat + math.degrees(north / EARTH_RADIUS_M)
    lon = point.lon + math.degrees(east / (EARTH_RADIUS_M * max(math.cos(math.radians(point.lat)), 1e-6)))
    return LonLat(lon, lat)


def plan_path(start: LonLat, end: LonLat, route: list[LonLat] | None = None) -> list[LonLat]:
    """From `start` to `end`: joins `route` (a planned path towards `end`) at its vertex nearest to
    `start`, or goes along the great circle."""
    if not route:
        return [start, end]
    nearest = min(range(len(route)), key=lambda i: distance_m(start, route[i]))
    return [start, *route[nearest:], end]


# --- Simulated trucks ----------------------------------------------------------------------------


@dataclass
class Leg:
    path: list[LonLat]
    dwell_s: float
    label: str
    length_m: float = 0.0

    def __post_init__(self) -> None:
        self.length_m = path_length_m(self.path)


@dataclass
class SimulatedVehicle:
    id: str
    vehicle_number: str
    position: LonLat
    legs: list[Leg] = field(default_factory=list)
    travelled_m: float = 0.0
    dwell_left_s: float | None = None  # None while driving
    heading: float = 0.0
    speed_kmh: float = 0.0

    @property
    def state(self) -> str:
        if not self.legs:
            return "idle"
        return "at facility" if self.dwell_left_s is not None else "driving"

    def advance(self, seconds: float, cruise_kmh: float) -> list[str]:
        """Moves the truck on by `seconds` of simulated time; returns what happened (arrivals,
        departures)."""
        happened: list[str] = []
        remaining = seconds
        self.speed_kmh = 0.0
        while remaining > 1e-9 and self.legs:
            leg = self.legs[0]
            if self.dwell_left_s is not None:
                self.speed_kmh = 0.0
                waited = min(remaining, self.dwell_left_s)
                self.dwell_left_s -= waited
                remaining -= waited
                if self.dwell_left_s <= 1e-9:
                    happened.append(f"{self.vehicle_number} leaves {leg.label}")
                    self.legs.pop(0)
                    self.dwell_left_s, self.travelled_m = None, 0.0
                continue
            to_end = leg.length_m - self.travelled_m
            speed_kmh = cruise_kmh if to_end > APPROACH_M else min(APPROACH_KMH, cruise_kmh)
            stretch = to_end - APPROACH_M if to_end > APPROACH_M else to_end
            reach = speed_kmh / 3.6 * remaining
            self.speed_kmh = speed_kmh
            if reach < stretch:
                self.travelled_m += reach
                remaining = 0
            else:
                self.travelled_m += stretch
                remaining -= stretch / (speed_kmh / 3.6)
                if self.travelled_m >= leg.length_m - 1e-6:
                    self.travelled_m = leg.length_m
                    self.dwell_left_s = leg.dwell_s
                    happened.append(f"{self.vehicle_number} arrives at {leg.label}")
            self.position, self.heading = along(leg.path, self.travelled_m)
        return happened


# --- The API client ------------------------------------------------------------------------------


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


class Api:
    """A small JSON client for the TMS API (standard library only)."""

    def __init__(self, base_url: str, token: str | None = None, timeout_s: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any, Message]:
        """(status, decoded JSON body, headers); header names are case-insensitive, as in HTTP
        (uvicorn sends them in lower case)."""
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None, response.headers
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                message = json.loads(raw)["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = raw[:200].decode(errors="replace")
            raise ApiError(error.code, message) from error

    def get_all(self, path: str) -> list[dict]:
        """Every page of a list endpoint."""
        results: list[dict] = []
        url: str | None = path
        while url:
            _, page, _ = self.request("GET", url)
            results.extend(page["results"])
            url = page.get("next")
        return results

    def allows(self, path: str, method: str) -> bool:
        try:
            status, _, headers = self.request("OPTIONS", path)
        except (ApiError, urllib.error.URLError):
            return False
        allow = {m.strip().upper() for m in (headers.get("Allow") or "").split(",")}
        return status == 200 and method in allow


def _lon_lat(geojson: dict | None) -> LonLat | None:
    if not geojson:
        return None
    lon, lat = geojson["coordinates"]
    return LonLat(lon, lat)


# --- The command ---------------------------------------------------------------------------------


class Command(BaseCommand):
    help = "Drives the demo fleet along plausible paths through the API, so the dispatch board moves."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="The running TMS.")
        parser.add_argument("--token", help="API token (else one from --username/--password).")
        parser.add_argument("--username", default="dispatcher", help="Default: the demo dispatcher.")
        parser.add_argument("--password", help="Default: TMS_DEMO_PASSWORD.")
        parser.add_argument("--vehicles", type=int, default=50, help="How many vehicles to drive.")
        parser.add_argument("--speedup", type=float, default=1.0, help="Simulated seconds per real second.")
        parser.add_argument("--interval", type=float, default=2.0, help="Real seconds between fixes.")
        parser.add_argument(
            "--duration", type=float, default=0, help="Stop after this many seconds (0: never)."
        )
        parser.add_argument("--seed", type=int, default=None, help="Random seed, for a repeatable run.")

    def handle(self, *args, **options):
        if options["interval"] <= 0 or options["speedup"] <= 0 or options["vehicles"] < 1:
            raise CommandError("--interval and --speedup must be positive, --vehicles at least 1.")
        self.rng = random.Random(options["seed"])
        self.cruise_kmh = float(settings.ROUTING_AVERAGE_SPEED_KMH)
        self.api = Api(options["base_url"])
        self.api.token = options["token"] or self._log_in(options["username"], options["password"])
        try:
            self._load_fleet(options["vehicles"])
        except urllib.error.URLError as error:
            raise CommandError(f"cannot reach {options['base_url']}: {error.reason}") from error
        except ApiError as error:
            raise CommandError(f"reading the fleet failed: {error}") from error
        self.use_batch = self.api.allows("/api/tracking/batch", "POST")
        self.pool = ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS)
        self.stdout.write(
            f"simulating {len(self.vehicles)} vehicles ({sum(bool(v.legs) for v in self.vehicles)} on loads) "
            f"at x{options['speedup']:g}, a fix every {options['interval']:g} s, via "
            f"{'POST /api/tracking/batch' if self.use_batch else 'PUT /api/vehicles/{id}/location'}; "
            "Ctrl-C stops"
        )
        ticks = 0
        started = last = time.monotonic()
        try:
            while not options["duration"] or time.monotonic() - started < options["duration"]:
                # Trucks move by the time that really passed, however long the last tick took.
                now = time.monotonic()
                elapsed, last = (now - last) or options["interval"], now
                ticks += 1
                self._tick(ticks, elapsed * options["speedup"])
                time.sleep(max(0.0, options["interval"] - (time.monotonic() - now)))
        except KeyboardInterrupt:
            self.stdout.write("")
        finally:
            self.pool.shutdown(cancel_futures=True)
        self.stdout.write(f"stopped after {ticks} ticks")

    # --- Setup ---

    def _log_in(self, username: str, password: str | None) -> str:
        password = password if password is not None else settings.TMS_DEMO_PASSWORD
        try:
            _, body, _ = self.api.request(
                "POST", "/api/auth/token/", {"username": username, "password": password}
            )
        except ApiError as error:
            raise CommandError(f"logging in as {username} failed ({error}); pass --token") from error
        except urllib.error.URLError as error:
            raise CommandError(f"cannot reach {self.api.base_url}: {error.reason}") from error
        return body["token"]

    def _load_fleet(self, limit: int) -> None:
        self.facilities = {
            f["id"]: (f["name"], _lon_lat(f["location"]))
            for f in self.api.get_all("/api/facilities/?page_size=500")
        }
        statuses = "&".join(f"status={s}" for s in ACTIVE_STATUSES)
        loads = {
            load["vehicle_id"]: load
            for load in self.api.get_all(f"/api/loads/?{statuses}&page_size=500")
            if load["vehicle_id"]
        }
        fleet = [
            v for v in self.api.get_all("/api/vehicles/?page_size=500") if v["status"] not in PARKED_STATUSES
        ]
        fleet.sort(key=lambda v: (v["id"] not in loads, v["vehicle_number"]))
        self.vehicles: list[SimulatedVehicle] = []
        for data in fleet[:limit]:
            position = _lon_lat(data["current_location"]) or self._random_facility()[1]
            vehicle = SimulatedVehicle(
                id=data["id"], vehicle_number=data["vehicle_number"], position=position
            )
            if data["id"] in loads:
                vehicle.legs = self._load_legs(position, loads[data["id"]])
            self.vehicles.append(vehicle)

    def _random_facility(self) -> tuple[str, LonLat]:
        if not self.facilities:
            raise CommandError("there are no facilities to drive to: run manage.py seed_demo")
        return self.rng.choice(list(self.facilities.values()))

    def _load_legs(self, position: LonLat, load: dict) -> list[Leg]:
        """To the pickup (unless the freight is on), then along the route to the delivery."""
        pickup_name, pickup = self.facilities.get(
            load["shipper_id"], ("pickup", _lon_lat(load["pickup_location"]))
        )
        delivery_name, delivery = self.facilities.get(
            load["consignee_id"], ("delivery", _lon_lat(load["delivery_location"]))
        )
        number = load["load_number"]
        route = self._route(load["id"])
        legs = []
        if load["picked_up_at"] is None:
            legs.append(Leg([position, pickup], PICKUP_DWELL_S, f"pickup of {number} ({pickup_name})"))
            position = pickup
        legs.append(
            Leg(
                plan_path(position, delivery, route),
                DELIVERY_DWELL_S,
                f"delivery of {number} ({delivery_name})",
            )
        )
        return legs

    def _route(self, load_id: str) -> list[LonLat] | None:
        try:
            routes = self.api.request("GET", f"/api/routes?load_id={load_id}&is_current=true")[1]["results"]
        except (ApiError, urllib.error.URLError, KeyError, TypeError):
            return None
        if not routes or not routes[0].get("path"):
            return None
        return [LonLat(lon, lat) for lon, lat in routes[0]["path"]["coordinates"]]

    def _next_legs(self, vehicle: SimulatedVehicle) -> list[Leg]:
        """A new load for this truck if a dispatcher gave it one, else a drive to a nearby site."""
        statuses = "&".join(f"status={s}" for s in ACTIVE_STATUSES)
        try:
            loads = self.api.request("GET", f"/api/loads/?vehicle_id={vehicle.id}&{statuses}")[1]["results"]
        except (ApiError, urllib.error.URLError):
            loads = []
        if loads:
            return self._load_legs(vehicle.position, loads[0])
        nearby = sorted(self.facilities.values(), key=lambda f: distance_m(vehicle.position, f[1]))
        candidates = [f for f in nearby if distance_m(vehicle.position, f[1]) > 2000][:5] or nearby[:1]
        name, target = self.rng.choice(candidates)
        return [Leg([vehicle.position, target], IDLE_DWELL_S, name)]

    # --- Each tick ---

    def _tick(self, number: int, sim_seconds: float) -> None:
        fixes = []
        now = datetime.now(UTC).isoformat()
        for vehicle in self.vehicles:
            if not vehicle.legs:
                vehicle.legs = self._next_legs(vehicle)
            for line in vehicle.advance(sim_seconds, self.cruise_kmh):
                self.stdout.write(f"  {line}")
            reported = with_noise(vehicle.position, GPS_NOISE_M, self.rng)
            fixes.append(
                {
                    "vehicle_id": vehicle.id,
                    "longitude": round(reported.lon, 6),
                    "latitude": round(reported.lat, 6),
                    "recorded_at": now,
                    "speed": round(vehicle.speed_kmh, 1),
                    "heading": round(vehicle.heading, 1) % 360,
                }
            )
        sent, errors = self._send(fixes)
        states = [v.state for v in self.vehicles]
        self.stdout.write(
            f"tick {number} {datetime.now().strftime('%H:%M:%S')} sent {sent}/{len(fixes)} "
            f"driving {states.count('driving')} at-facility {states.count('at facility')} "
            f"idle {states.count('idle')} errors {len(errors)}" + (f" (first: {errors[0]})" if errors else "")
        )

    def _send(self, fixes: list[dict]) -> tuple[int, list[str]]:
        if self.use_batch:
            try:
                _, result, _ = self.api.request("POST", "/api/tracking/batch", {"points": fixes})
                rejected = (result or {}).get("rejected") or []
                return len(fixes) - len(rejected), [f"point {r['index']}: {r['errors']}" for r in rejected]
            except ApiError as error:
                if error.status not in (400, 404, 405, 415):
                    return 0, [str(error)]
                self.stdout.write(f"  the batch endpoint refused our points ({error}); sending one by one")
                self.use_batch = False
            except urllib.error.URLError as error:
                return 0, [str(error.reason)]
        outcomes = list(self.pool.map(self._put_location, fixes))
        errors = [outcome for outcome in outcomes if outcome]
        return len(fixes) - len(errors), errors

    def _put_location(self, fix: dict) -> str | None:
        """One vehicle's fix; returns the error, if any."""
        body = {key: value for key, value in fix.items() if key != "vehicle_id"}
        try:
            self.api.request("PUT", f"/api/vehicles/{fix['vehicle_id']}/location", body)
        except ApiError as error:
            return str(error)
        except urllib.error.URLError as error:
            return str(error.reason)
        return None
