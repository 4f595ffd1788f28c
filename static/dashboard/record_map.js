/* The map of one record's page (the load page, the route page): numbered stop markers in order,
 * the truck's last position and the route's geometry, from the JSON the page carries
 * (#record-map-data: {stops: [{label, kind, facility, place, location: [lon, lat], window}],
 * truck: {vehicle_number, location, at} | null, path: [[lon, lat], ...] | null, tile_url}).
 * Leaflet is served from here; tiles may be unreachable (offline), the rest still draws. Texts
 * are set as textContent, never HTML. */
(function () {
  "use strict";

  const data = JSON.parse(document.getElementById("record-map-data").textContent);
  const container = document.getElementById("record-map");
  const latLng = (lonLat) => [lonLat[1], lonLat[0]];

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  const map = L.map(container, { worldCopyJump: true }).setView([39.5, -98.35], 4);
  if (data.tile_url) {
    L.tileLayer(data.tile_url, { maxZoom: 18, attribution: "&copy; OpenStreetMap contributors" }).addTo(map);
  }
  L.control.scale().addTo(map);
  const bounds = [];

  if (data.path && data.path.length > 1) {
    const line = data.path.map(latLng);
    L.polyline(line, { color: "#2f6fb5", weight: 4, opacity: 0.8, className: "route-path" }).addTo(map);
    bounds.push(...line);
  }

  for (const stop of data.stops || []) {
    if (!stop.location) continue;
    const icon = L.divIcon({
      className: `stop-marker stop-${stop.kind}`,
      html: el("span", stop.label),
      iconSize: [24, 24],
      iconAnchor: [12, 12],
    });
    const tooltip = el("span", [stop.label, stop.kind, stop.facility, stop.place, stop.window].filter(Boolean).join(" · "));
    L.marker(latLng(stop.location), { icon, title: `${stop.label} ${stop.kind}` }).bindTooltip(tooltip).addTo(map);
    bounds.push(latLng(stop.location));
  }

  if (data.truck && data.truck.location) {
    const tooltip = el("span", [data.truck.vehicle_number, "last position", data.truck.at].filter(Boolean).join(" · "));
    L.circleMarker(latLng(data.truck.location), {
      radius: 8, weight: 2, color: "#fff", fillColor: "#e08a00", fillOpacity: 0.95, className: "truck-marker",
    }).bindTooltip(tooltip).addTo(map);
    bounds.push(latLng(data.truck.location));
  }

  if (bounds.length > 1) map.fitBounds(bounds, { padding: [24, 24], maxZoom: 12 });
  else if (bounds.length === 1) map.setView(bounds[0], 10);
  container.dataset.drawn = "true";
})();
