// The dashboard page: one EventSource for the state, fetch for changes.
import { h, render } from "preact";
import { useEffect, useState } from "preact/hooks";
import htm from "htm";
import { applyUpdate, fromSnapshot } from "/assets/state.js";
import {
  ContextTree,
  Counters,
  Devices,
  MeshGraph,
  MessageLog,
  PeerTable,
  RatePlot,
  Streams,
} from "/assets/views.js";

const html = htm.bind(h);
const token = new URLSearchParams(location.search).get("token");
const query = token ? `?token=${encodeURIComponent(token)}` : "";

/** A change through the JSON API; resolves with an error text, or undefined. */
async function call(method, path, body) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  try {
    const r = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.ok) return undefined;
    const j = await r.json().catch(() => ({}));
    return j.error ?? `${r.status} ${r.statusText}`;
  } catch (e) {
    return String(e);
  }
}

const api = {
  setContext: (path, value) => call("PUT", "/api/context", { path, value }),
  deleteContext: (path) =>
    call("DELETE", `/api/context?path=${encodeURIComponent(path)}`),
  watch: (topic) => call("POST", "/api/watch", { topic }),
  unwatch: (topic) =>
    call("DELETE", `/api/watch?topic=${encodeURIComponent(topic)}`),
};

function useDashboard() {
  const [state, setState] = useState(undefined);
  const [conn, setConn] = useState("connecting");
  useEffect(() => {
    const es = new EventSource(`/api/events${query}`);
    es.addEventListener("snapshot", (e) => {
      const snap = JSON.parse(e.data);
      setState((prev) => fromSnapshot(snap, prev));
      setConn("live");
    });
    es.addEventListener("update", (e) => {
      const u = JSON.parse(e.data);
      setState((prev) => prev && applyUpdate(prev, u));
    });
    es.onerror = () => setConn(es.readyState === 2 ? "closed" : "reconnecting");
    es.onopen = () => setConn("live");
    return () => es.close();
  }, []);
  return [state, conn];
}

/** A clock for "ago" texts and flashes. */
function useNow(offset) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 500);
    return () => clearInterval(t);
  }, []);
  return now + (offset ?? 0);
}

function Panel({ title, id, children, wide }) {
  return html`<section class=${wide ? "panel wide" : "panel"} id=${id}>
    <h2>${title}</h2>${children}</section>`;
}

function Banners({ state, conn }) {
  const lag = state.lag;
  const items = [];
  if (conn !== "live") {
    items.push(`Connection to the node ${conn}…`);
  }
  if (state.droppedUpdates > 0) {
    items.push(
      `This page fell behind: ${state.droppedUpdates} update(s) dropped by the node and the page resynchronised (${state.resyncs}×).`,
    );
  }
  if (lag.nodeEvents > 0) {
    items.push(
      `The dashboard fell behind the node: ${lag.nodeEvents} event(s) skipped.`,
    );
  }
  if (lag.bridgeEvents > 0) {
    items.push(`${lag.bridgeEvents} bridge event(s) skipped.`);
  }
  if (lag.messagesSkipped > 0) {
    items.push(
      `${lag.messagesSkipped} message(s) came too fast to show (the node sends at most 100 per update, 4 updates a second).`,
    );
  }
  return items.length === 0
    ? null
    : html`<div class="banners">${
      items.map((t) => html`<p class="banner">${t}</p>`)
    }</div>`;
}

function App() {
  const [state, conn] = useDashboard();
  const now = useNow(state?.clockOffset);
  useEffect(() => {
    if (state && !document.body.dataset.ready) {
      document.body.dataset.ready = "1";
      globalThis.__aviFirstRender = performance.now();
    }
  }, [state]);
  if (!state) return html`<p class="muted loading">Connecting…</p>`;
  const { self } = state;
  const connected = [...state.peers.values()].filter((p) => p.connected).length;
  return html`
    <header>
      <h1>${self.name}</h1>
      <span class="muted" title=${self.peerId}>${self.peerId}</span>
      ${self.gateway ? html`<span class="badge">gateway</span>` : null}
      ${self.readOnly ? html`<span class="badge">read-only</span>` : null}
      <span class=${`badge conn ${conn}`} data-conn=${conn}>${conn}</span>
    </header>
    <${Banners} state=${state} conn=${conn} />
    <main>
      <${Panel} title=${`Mesh: ${connected} peer${
        connected === 1 ? "" : "s"
      }`} id="mesh">
        <${MeshGraph} self=${self} peers=${state.peers} devices=${state
          .devices} />
        <${PeerTable} peers=${state.peers} now=${now} />
      <//>
      ${self.gateway
        ? html`
          <${Panel} title=${`Devices: ${state.devices.size}`} id="devices">
            <${Devices} devices=${state.devices} context=${state
              .context} now=${now} />
            <//>
        `
        : null}
      <${Panel} title="Shared context" id="context">
        <${ContextTree} context=${state.context} writes=${state.writes}
          self=${self} now=${now} api=${api} />
      <//>
      <${Panel} title="Messages" id="messages">
        <${MessageLog} messages=${state.messages} watched=${state.watched}
          self=${self} api=${api} />
      <//>
      <${Panel} title="Traffic" id="traffic">
        <${RatePlot} rate=${state.rate} />
        <h3>Streams</h3>
        <${Streams} streams=${state.streams} peers=${state.peers} />
      <//>
      <${Panel} title="Counters" id="counters">
        <${Counters} stats=${state.stats} />
      <//>
    </main>
  `;
}

render(html`<${App} />`, document.getElementById("app"));
