/* The /ws live stream for a back-office page (protocol: tms/ws.py): a single-use ticket asked for
 * with a POST (session cookie and CSRF token) before each connection, so the page never holds the
 * API token; subscribe, ping, reconnect with backoff. The dispatch board and the dashboard home use it.
 *
 * TmsLiveStream.open({ticket_url, csrf_token, ws_path, topics}, {onEvent(event), onState(state, text)})
 * state: "connecting", "live" or "offline". */
(function () {
  "use strict";

  const PING_EVERY_MS = 30000; // the server closes a connection silent for TMS_WS_IDLE_TIMEOUT_S

  async function fetchTicket(config) {
    const response = await fetch(config.ticket_url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": config.csrf_token },
    });
    // A lapsed session answers with the login page: not JSON.
    if (!response.ok || !(response.headers.get("Content-Type") || "").includes("application/json")) {
      throw new Error(`ticket request answered ${response.status}`);
    }
    return (await response.json()).ticket;
  }

  function open(config, handlers) {
    const onState = handlers.onState || function () {};
    let retryMs = 1000;
    let pinger = null;

    async function connect() {
      let ticket;
      try {
        ticket = await fetchTicket(config);
      } catch (error) {
        onState("offline", "Could not get a ticket for the live stream: reload the page.");
        return;
      }
      const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      const url = `${scheme}${window.location.host}${config.ws_path}?ticket=${encodeURIComponent(ticket)}`;
      onState("connecting", "Connecting to the live stream…");
      const socket = new WebSocket(url);
      socket.onopen = () => {
        socket.send(JSON.stringify({ action: "subscribe", topics: config.topics }));
        pinger = setInterval(() => socket.readyState === WebSocket.OPEN && socket.send('{"action":"ping"}'), PING_EVERY_MS);
      };
      socket.onmessage = (message) => {
        let payload;
        try {
          payload = JSON.parse(message.data);
        } catch (error) {
          return;
        }
        if (payload.type === "event") handlers.onEvent(payload.event);
        else if (payload.type === "subscribed") {
          retryMs = 1000;
          onState("live", `Live: ${payload.topics.join(", ")}`);
        } else if (payload.type === "error") onState("offline", `Live stream error: ${payload.message}`);
      };
      socket.onclose = (close) => {
        clearInterval(pinger);
        if (close.code === 4401 || close.code === 4403) {
          onState("offline", close.code === 4403
            ? "Live updates need a role (ADMIN, DISPATCHER or VIEWER) for this user."
            : "The live stream refused this page's ticket: reload the page.");
          return;
        }
        onState("offline", `Live stream lost; reconnecting in ${Math.round(retryMs / 1000)} s`);
        setTimeout(connect, retryMs);
        retryMs = Math.min(retryMs * 2, 30000);
      };
    }

    connect();
  }

  window.TmsLiveStream = { open };
})();
