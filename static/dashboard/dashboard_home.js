/* The admin home's dashboard (tms/dashboard.py admin_home): KPI tiles and Chart.js charts from
 * GET /api/dashboard's figures, which come with the page as JSON. When an event that changes a
 * figure arrives on the live stream (live_stream.js), the figures are fetched again for the same
 * range, naming that event (so the answer includes it), and tiles and charts are redrawn. Position
 * fixes change no figure here and are ignored. Texts reach the page as textContent, never HTML. */
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  let figures = JSON.parse(document.getElementById("dashboard-figures").textContent);
  const root = document.getElementById("dashboard");
  const STATUS_COLOURS = {
    CREATED: "#8e8e8e",
    ASSIGNED: "#2f6fb5",
    PICKED_UP: "#7a4fb5",
    IN_TRANSIT: "#e08a00",
    DELAYED: "#c9302c",
    DELIVERED: "#3c8d3c",
    CANCELLED: "#555555",
  };
  const DUTY_COLOURS = { OFF_DUTY: "#9bb7d4", SLEEPER_BERTH: "#5c7fa3", DRIVING: "#e08a00", ON_DUTY: "#3c8d3c" };
  const REFRESH_AFTER_MS = 500; // one refresh for a burst of events (a delivery emits several)

  function el(tag, text, className) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (className) node.className = className;
    return node;
  }

  const percent = (share) => (share === null || share === undefined ? "—" : `${(share * 100).toFixed(1)} %`);
  const money = (value) => (value === null || value === undefined ? "—" : `$${Number(value).toLocaleString("en-US", { maximumFractionDigits: 2 })}`);
  const number = (value, digits) => (value === null || value === undefined ? "—" : Number(value).toLocaleString("en-US", { maximumFractionDigits: digits || 0 }));
  const sum = (values) => values.reduce((total, value) => total + value, 0);

  // --- Tiles ---------------------------------------------------------------------------------------

  function tiles(data) {
    const exceptions = data.open_exceptions;
    return [
      ["loads", "Loads (pickups in range)", number(sum(Object.values(data.loads_by_status)))],
      ["delivered", "Delivered", number(data.service.deliveries)],
      ["on_time_pickup", "On-time pickup", percent(data.service.on_time_pickup_rate)],
      ["on_time_delivery", "On-time delivery", percent(data.service.on_time_delivery_rate)],
      ["utilisation", "Truck utilisation", percent(data.vehicle_utilisation.utilisation)],
      ["revenue", "Revenue (delivered)", money(data.service.revenue)],
      ["rate_per_mile", "Rate per mile", money(data.service.rate_per_mile)],
      ["loaded_miles", "Loaded miles", number(data.miles.loaded_miles, 1)],
      ["empty_miles", "Empty miles", number(data.miles.empty_miles, 1)],
      ["drivers_on_duty", "Drivers on duty", number(data.driver_activity.drivers_on_duty)],
      ["hos_violations", "HOS violations", number(data.hos_violations.total)],
      [
        "open_exceptions",
        "Open exceptions",
        number(exceptions.delayed_loads.count + exceptions.route_deviations.count + exceptions.expiring_licences.count),
      ],
    ];
  }

  function renderTiles(data) {
    const container = document.getElementById("dashboard-tiles");
    container.replaceChildren(
      ...tiles(data).map(([key, label, value]) => {
        const tile = el("div", null, "dashboard-tile");
        tile.dataset.kpi = key;
        tile.append(el("span", value, "dashboard-tile-value"), el("span", label, "dashboard-tile-label"));
        return tile;
      }),
    );
  }

  // --- Open exceptions -----------------------------------------------------------------------------

  function link(template, id, text) {
    const anchor = el("a", text);
    anchor.href = template.replace("00000000-0000-0000-0000-000000000000", id);
    return anchor;
  }

  function renderExceptions(data) {
    const exceptions = data.open_exceptions;
    const list = el("ul");
    const item = (...nodes) => {
      const li = el("li");
      li.append(...nodes);
      list.appendChild(li);
    };
    for (const load of exceptions.delayed_loads.items) {
      item(el("span", "Delayed ", "exception-kind"), link(config.load_url, load.load_id, load.load_number), el("span", `: ${load.reason}`));
    }
    for (const deviation of exceptions.route_deviations.items) {
      item(el("span", "Off route ", "exception-kind"), link(config.load_url, deviation.load_id, deviation.load_number));
    }
    for (const licence of exceptions.expiring_licences.items) {
      const state = licence.expired ? "expired" : "expires";
      item(el("span", "Licence ", "exception-kind"), link(config.driver_url, licence.driver_id, licence.name), el("span", ` ${state} ${licence.license_expiry}`));
    }
    if (!list.children.length) list.appendChild(el("li", "None."));
    document.getElementById("dashboard-exceptions").replaceChildren(list);
  }

  // --- Charts --------------------------------------------------------------------------------------

  Chart.defaults.animation = false; // redrawn on every event: no replays of the entry animation
  Chart.defaults.maintainAspectRatio = false;
  const charts = {};

  function chartData(data) {
    const statuses = Object.keys(data.loads_by_status);
    const duty = data.driver_activity.hours_by_duty_status;
    return {
      status: {
        labels: statuses,
        datasets: [{ label: "Loads", data: statuses.map((s) => data.loads_by_status[s]), backgroundColor: statuses.map((s) => STATUS_COLOURS[s] || "#777") }],
      },
      trend: {
        labels: data.trend.map((day) => day.date),
        datasets: [
          { label: "Booked", data: data.trend.map((day) => day.created), borderColor: "#2f6fb5", backgroundColor: "#2f6fb5" },
          { label: "Delivered", data: data.trend.map((day) => day.delivered), borderColor: "#3c8d3c", backgroundColor: "#3c8d3c" },
        ],
      },
      onTime: {
        labels: ["Pickup", "Delivery"],
        datasets: [{
          label: "On time (%)",
          data: [data.service.on_time_pickup_rate, data.service.on_time_delivery_rate].map((r) => (r === null ? null : r * 100)),
          backgroundColor: ["#2f6fb5", "#3c8d3c"],
        }],
      },
      duty: {
        labels: Object.keys(duty),
        datasets: [{ label: "Hours", data: Object.values(duty), backgroundColor: Object.keys(duty).map((s) => DUTY_COLOURS[s] || "#777") }],
      },
      miles: {
        labels: ["Loaded", "Empty"],
        datasets: [{ label: "Miles", data: [data.miles.loaded_miles, data.miles.empty_miles], backgroundColor: ["#e08a00", "#8e8e8e"] }],
      },
    };
  }

  const CHARTS = {
    status: ["chart-status", "bar", { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }],
    trend: ["chart-trend", "line", { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }],
    onTime: ["chart-on-time", "bar", { plugins: { legend: { display: false } }, scales: { y: { min: 0, max: 100 } } }],
    duty: ["chart-duty", "doughnut", {}],
    miles: ["chart-miles", "bar", { plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true } } }],
  };

  function renderCharts(data) {
    const all = chartData(data);
    for (const [name, [canvas, type, options]] of Object.entries(CHARTS)) {
      if (charts[name]) {
        charts[name].data = all[name];
        charts[name].update();
      } else {
        charts[name] = new Chart(document.getElementById(canvas), { type, data: all[name], options });
      }
    }
  }

  function render(data) {
    renderTiles(data);
    renderCharts(data);
    renderExceptions(data);
  }

  // --- Live updates ------------------------------------------------------------------------------------

  const connection = document.getElementById("dashboard-connection");
  let pending = null;
  let latestEvent = null;

  async function refresh() {
    pending = null;
    const eventId = latestEvent;
    const query = new URLSearchParams(window.location.search);
    const params = new URLSearchParams({ event: eventId });
    for (const name of ["from", "to"]) if (query.get(name)) params.set(name, query.get(name));
    try {
      const response = await fetch(`${config.figures_url}?${params}`, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`figures answered ${response.status}`);
      figures = await response.json();
    } catch (error) {
      connection.dataset.state = "offline";
      connection.textContent = "Could not refresh the figures: reload the page.";
      return;
    }
    render(figures);
    root.dataset.refreshedFor = eventId; // the event whose effect the figures include
  }

  function onEvent(event) {
    if (!event || !config.changing_events.includes(event.type)) return;
    latestEvent = event.id;
    if (pending === null) pending = setTimeout(refresh, REFRESH_AFTER_MS);
  }

  render(figures);
  root.dataset.drawn = "true";
  window.TmsLiveStream.open(config, {
    onEvent,
    onState(state, text) {
      connection.dataset.state = state;
      connection.textContent = state === "live" ? "Live: updates as events arrive" : text;
    },
  });
})();
