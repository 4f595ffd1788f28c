/* The dispatch board (tms/dashboard.py): the initial state comes with the page as JSON, then the
 * /ws live stream (live_stream.js: a single-use ticket per connection, so the page never holds the
 * API token; protocol: tms/ws.py) moves the trucks, updates the loads and fills the event feed. No
 * framework, no build step. Every text reaches
 * the page as textContent or a DOM node, never as HTML: names are typed by users (a facility named
 * <img onerror=...> must stay a name), and Leaflet reads a string tooltip as HTML. */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("board-config").textContent);
  const state = JSON.parse(document.getElementById("board-state").textContent);

  const VEHICLE_COLOURS = {
    AVAILABLE: "#3c8d3c",
    ASSIGNED: "#2f6fb5",
    IN_TRANSIT: "#e08a00",
    MAINTENANCE: "#8e8e8e",
    OUT_OF_SERVICE: "#c9302c",
  };
  const OPEN_LOAD_STATUSES = ["CREATED", "ASSIGNED", "PICKED_UP", "IN_TRANSIT", "DELAYED"];
  const POSITION_EVENTS = ["VEHICLE_LOCATION_UPDATED", "DRIVER_LOCATION_UPDATED"];

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  function shortTime(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    // The operator's clock with its zone named (TMS_TIME_ZONE), as everywhere in the back office.
    const options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, timeZoneName: "short" };
    if (config.time_zone) options.timeZone = config.time_zone;
    return isNaN(date) ? "" : date.toLocaleTimeString("en-US", options);
  }

  // --- Map -----------------------------------------------------------------------------------------

  const map = L.map("dispatch-map", { preferCanvas: true, worldCopyJump: true }).setView([39.5, -98.35], 4);
  if (config.tile_url) {
    // Unreachable tiles stay hidden: the map keeps its plain background and everything else works.
    L.tileLayer(config.tile_url, { maxZoom: 18, attribution: config.tile_attribution }).addTo(map);
  }
  L.control.scale().addTo(map);

  const facilityLayer = L.layerGroup().addTo(map);
  for (const facility of state.facilities) {
    if (!facility.location) continue;
    const latLng = [facility.location[1], facility.location[0]];
    L.circle(latLng, {
      radius: facility.geofence_radius_m,
      color: "#555",
      weight: 1,
      fillOpacity: 0.08,
    }).addTo(facilityLayer);
    L.circleMarker(latLng, { radius: 3, color: "#555", weight: 1, fillOpacity: 0.6 })
      .bindTooltip(el("span", `${facility.name} (${facility.city}, ${facility.state})`))
      .addTo(facilityLayer);
  }

  const vehicles = new Map(); // id -> {data, marker}

  function vehicleTooltip(data) {
    const parts = [data.vehicle_number || data.id.slice(0, 8), data.status || ""];
    if (data.speed_kmh !== undefined && data.speed_kmh !== null) parts.push(`${Math.round(data.speed_kmh)} km/h`);
    if (data.location_updated_at) parts.push(shortTime(data.location_updated_at));
    return parts.filter(Boolean).join(" · ");
  }

  function drawVehicle(entry) {
    const { data } = entry;
    if (!data.location) return;
    const latLng = [data.location[1], data.location[0]];
    const colour = VEHICLE_COLOURS[data.status] || "#333";
    if (!entry.marker) {
      entry.marker = L.circleMarker(latLng, { radius: 6, weight: 2, color: "#fff", fillColor: colour, fillOpacity: 0.95 })
        .bindTooltip(el("span"), { className: "vehicle-label" })
        .addTo(map);
    } else {
      entry.marker.setLatLng(latLng);
      entry.marker.setStyle({ fillColor: colour });
    }
    entry.marker.getTooltip().getContent().textContent = vehicleTooltip(data); // text, never HTML
  }

  function vehicle(id) {
    let entry = vehicles.get(id);
    if (!entry) {
      entry = { data: { id, vehicle_number: null, status: null, location: null }, marker: null };
      vehicles.set(id, entry);
    }
    return entry;
  }

  for (const data of state.vehicles) {
    const entry = vehicle(data.id);
    entry.data = data;
    drawVehicle(entry);
  }
  const placed = state.vehicles.filter((v) => v.location).map((v) => [v.location[1], v.location[0]]);
  if (placed.length > 1) map.fitBounds(placed, { padding: [20, 20], maxZoom: 10 });

  // --- Loads ---------------------------------------------------------------------------------------

  const counts = Object.assign({}, state.load_counts);
  const loads = new Map(state.loads.map((load) => [load.id, load]));

  function renderCounts() {
    const body = document.querySelector("#board-load-counts tbody");
    body.replaceChildren();
    for (const [status, count] of Object.entries(counts)) {
      const row = el("tr");
      const label = el("th");
      label.appendChild(el("span", status, `status status-${status}`));
      row.append(label, el("td", count));
      body.appendChild(row);
    }
  }

  function renderLoads() {
    const body = document.querySelector("#board-loads tbody");
    body.replaceChildren();
    const open = [...loads.values()].filter((load) => OPEN_LOAD_STATUSES.includes(load.status));
    open.sort((a, b) => String(a.pickup_datetime).localeCompare(String(b.pickup_datetime)));
    for (const load of open) {
      const row = el("tr");
      const status = el("td");
      status.appendChild(el("span", load.status, `status status-${load.status}`));
      const lane = load.origin && load.destination ? `${load.origin} → ${load.destination}` : "";
      row.append(el("td", load.load_number), status, el("td", load.vehicle || "—"), el("td", lane));
      body.appendChild(row);
    }
    document.getElementById("board-loads-count").textContent = `(${open.length})`;
  }

  function applyLoadEvent(event) {
    const data = event.data || {};
    const previous = data.previous_status;
    if (data.status && previous !== data.status) {
      if (previous && counts[previous] > 0) counts[previous] -= 1;
      counts[data.status] = (counts[data.status] || 0) + 1;
    }
    const load = loads.get(data.load_id) || { id: data.load_id, pickup_datetime: data.pickup_datetime || "" };
    load.load_number = data.load_number || load.load_number;
    load.status = data.status || load.status;
    if (data.vehicle_id !== undefined) {
      load.vehicle_id = data.vehicle_id;
      load.vehicle = data.vehicle_id ? (vehicles.get(data.vehicle_id) || { data: {} }).data.vehicle_number || load.vehicle : null;
    }
    loads.set(load.id, load);
    renderCounts();
    renderLoads();
  }

  // --- Event feed ----------------------------------------------------------------------------------

  const feed = document.getElementById("board-feed");
  const showPositions = document.getElementById("board-show-positions");
  const seen = new Set();

  function describe(event) {
    const data = event.data || {};
    if (data.load_number) return `${data.load_number} ${data.previous_status || "—"} → ${data.status}`;
    if (data.vehicle_id) {
      const unit = (vehicles.get(data.vehicle_id) || { data: {} }).data.vehicle_number || data.vehicle_id.slice(0, 8);
      if (data.status) return `${unit} ${data.previous_status} → ${data.status}`;
      if (data.latitude !== undefined) return `${unit} at ${data.latitude.toFixed(4)}, ${data.longitude.toFixed(4)}`;
      return unit;
    }
    return data.message || event.subject || "";
  }

  const feedEvents = []; // newest first, positions included, so the toggle can show them

  function feedItem(event) {
    const item = el("li");
    item.append(el("time", shortTime(event.time)), el("span", event.type, "event-type"), el("span", describe(event)));
    return item;
  }

  function renderFeed() {
    const shown = feedEvents.filter((event) => showPositions.checked || !POSITION_EVENTS.includes(event.type));
    feed.replaceChildren(...shown.slice(0, config.feed_size).map(feedItem));
  }

  function addToFeed(event) {
    feedEvents.unshift(event);
    if (feedEvents.length > config.feed_size * 4) feedEvents.pop();
    if (!showPositions.checked && POSITION_EVENTS.includes(event.type)) return;
    feed.prepend(feedItem(event));
    while (feed.children.length > config.feed_size) feed.lastElementChild.remove();
  }

  for (const event of state.events) {
    seen.add(event.id);
    feedEvents.push(event);
  }
  showPositions.addEventListener("change", renderFeed);
  renderFeed();

  // --- Live stream ---------------------------------------------------------------------------------

  function handle(event) {
    if (!event || seen.has(event.id)) return;
    seen.add(event.id);
    if (seen.size > 5000) seen.clear();
    const data = event.data || {};
    if (event.type === "VEHICLE_LOCATION_UPDATED") {
      const entry = vehicle(data.vehicle_id);
      entry.data.location = [data.longitude, data.latitude];
      entry.data.location_updated_at = data.recorded_at;
      entry.data.speed_kmh = data.speed_kmh;
      drawVehicle(entry);
    } else if (event.type === "VEHICLE_STATUS_CHANGED") {
      const entry = vehicle(data.vehicle_id);
      entry.data.status = data.status;
      drawVehicle(entry);
    } else if (event.type.startsWith("LOAD_")) {
      applyLoadEvent(event);
    }
    addToFeed(event);
  }

  const connection = document.getElementById("board-connection");
  function showConnection(stateName, text) {
    connection.dataset.state = stateName;
    connection.textContent = text;
  }

  renderCounts();
  renderLoads();
  TmsLiveStream.open(config, { onEvent: handle, onState: showConnection });
})();
