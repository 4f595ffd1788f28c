// A client written against the TypeScript types generated from /api/schema/ (openapi-typescript).
// tms/tests/test_api_clients.py generates ./api.d.ts beside a copy of this file and type-checks
// both with tsc --strict: when the schema stops describing what a client relies on (a field, an
// enum value, a nullable location, an error envelope), this file stops compiling and the suite fails.
import type { components, paths } from "./api";

type Schemas = components["schemas"];
export type Load = Schemas["Load"];
export type Vehicle = Schemas["Vehicle"];
export type Driver = Schemas["Driver"];
export type ApiError = Schemas["Error"];

type Json<Op> = Op extends { responses: { 200: { content: { "application/json": infer Body } } } }
  ? Body
  : never;
type Body<Op> = Op extends { requestBody?: { content: { "application/json": infer Sent } } } ? Sent : never;

// Lists come as one paginated envelope.
type LoadPage = Json<paths["/api/loads"]["get"]>;
export const loadsOf = (page: LoadPage): Load[] => page.results;
export const pages = (page: LoadPage): [number, string | null | undefined] => [page.count, page.next];

// Every load status a dispatcher's screen must show: a value added or renamed in the schema
// breaks this exhaustive switch.
export function statusLabel(status: Schemas["LoadStatusEnum"]): string {
  switch (status) {
    case "CREATED":
      return "waiting for a truck";
    case "ASSIGNED":
      return "truck assigned";
    case "PICKED_UP":
      return "loaded";
    case "IN_TRANSIT":
      return "on the road";
    case "DELAYED":
      return "late";
    case "DELIVERED":
      return "delivered";
    case "CANCELLED":
      return "cancelled";
    default: {
      const unknown: never = status;
      return unknown;
    }
  }
}

export function loadSummary(load: Load): string {
  const [lon, lat] = load.pickup_location.coordinates;
  return `${load.load_number} ${statusLabel(load.status)} from ${load.pickup_address} (${lon}, ${lat})`;
}

// A vehicle or driver that has not reported yet has no location: the types say so.
const notReportedYet: Vehicle["current_location"] = null;
const driverNotReportedYet: Driver["current_location"] = null;
export function position(vehicle: Vehicle): [number, number] | typeof notReportedYet {
  if (vehicle.current_location === null) {
    return notReportedYet;
  }
  const [longitude, latitude] = vehicle.current_location.coordinates;
  return [longitude, latitude];
}
export const driverPosition = (driver: Driver) => driver.current_location ?? driverNotReportedYet;

// The equipment a load's freight needs ("" when any truck will do) and the reefer ranges, in °C:
// a dry load has no range (null), a reefer load and a reefer's unit have both ends.
export function equipmentNeeded(load: Load, vehicle: Vehicle): string {
  if (load.required_equipment !== "REEFER") {
    return load.required_equipment === "" ? "any equipment" : `${load.required_equipment}`;
  }
  const freight: [number | null, number | null] = [load.temperature_min_c, load.temperature_max_c];
  const unit = vehicle.temperature_min_c === null ? "unknown" : `${vehicle.temperature_min_c}..${vehicle.temperature_max_c}`;
  return `reefer ${freight.join("..")} °C on a unit holding ${unit} °C`;
}

export const vehicleStatuses: Schemas["VehicleStatusEnum"][] = ["AVAILABLE", "MAINTENANCE", "OUT_OF_SERVICE"];

// Errors are one envelope, documented on the operations that give them.
type AssignConflict =
  paths["/api/loads/{id}/assign"]["post"]["responses"][409]["content"]["application/json"];
type Throttled = paths["/api/vehicles"]["get"]["responses"][429]["content"]["application/json"];
export const conflict: AssignConflict = {
  error: { code: "invalid_transition", message: "Load is DELIVERED", details: {}, correlation_id: "c-1" },
};
export const describeError = (body: ApiError | Throttled): string =>
  `${body.error.code}: ${body.error.message} (request ${body.error.correlation_id})`;

// A failed routing job says why, as an object.
export function jobOutcome(job: Json<paths["/api/routes/jobs/{job_id}"]["get"]>): string {
  if (job.status === "FAILED") {
    return job.error ? `${job.error.code}: ${job.error.message}` : "failed";
  }
  return job.route_id ?? job.status;
}

// Typed payloads: the route's score explanation, a fleet plan's result.
export const detourRatio = (route: Schemas["Route"]): number | undefined =>
  route.score_explanation.detour?.ratio;
export const plannedStops = (plan: Schemas["FleetPlan"]): number =>
  (plan.result.routes ?? []).reduce((stops, route) => stops + route.stops.length, 0);

// Related objects are named by their ids (`*_id`, `*_ids`), in routes, plans and their bodies.
export const routeKey = (route: Schemas["Route"]): string =>
  `${route.load_id}/${route.vehicle_id}/${route.driver_id ?? "no driver"}`;
export const trucksOfPlan = (plan: Schemas["FleetPlan"]): Record<string, string[]> =>
  Object.fromEntries((plan.result.routes ?? []).map((route) => [route.vehicle_id, route.load_ids]));
export const failedLoads = (plan: Schemas["FleetPlan"]): string[] =>
  (plan.acceptance?.loads ?? []).filter((item) => item.status === "FAILED").map((item) => item.load_id);
export const optimizeLoad: Body<paths["/api/routes/optimize-load"]["post"]> = {
  load_id: "6c1f7f3e-1111-4a4a-9a9a-000000000001",
  vehicle_id: "6c1f7f3e-1111-4a4a-9a9a-000000000002",
  driver_id: null,
};
export const planSome: Body<paths["/api/routes/optimize-fleet"]["post"]> = {
  load_ids: ["6c1f7f3e-1111-4a4a-9a9a-000000000001"],
  vehicle_ids: ["6c1f7f3e-1111-4a4a-9a9a-000000000002"],
};
export const acceptSome: Body<paths["/api/fleet-plans/{id}/accept"]["post"]> = {
  vehicle_ids: ["6c1f7f3e-1111-4a4a-9a9a-000000000002"],
};
