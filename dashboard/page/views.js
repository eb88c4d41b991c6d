// The dashboard's panels, as preact components written with htm.
import { h } from "preact";
import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import htm from "htm";
import {
  ago,
  formatPayload,
  parseTyped,
  shortId,
  showValue,
  topicMatches,
  typeOf,
  valueAt,
} from "/assets/state.js";

const html = htm.bind(h);

// ---- the mesh graph ---------------------------------------------------------

const GRAPH_DEVICES = 24;

/** This node in the middle, peers on the left arc, devices on the right. */
export function MeshGraph({ self, peers, devices }) {
  const W = 440, H = 300, cx = W / 2, cy = H / 2;
  const ps = [...peers.values()];
  const ds = [...devices.values()].slice(0, GRAPH_DEVICES);
  const more = devices.size - ds.length;
  const spread = (n, i, from, to) =>
    n === 1 ? (from + to) / 2 : from + (to - from) * i / (n - 1);
  const peerPos = ps.map((_, i) => {
    const a = spread(ps.length, i, Math.PI * 0.6, Math.PI * 1.4);
    return [cx + 150 * Math.cos(a), cy + 115 * Math.sin(a)];
  });
  const devPos = ds.map((_, i) => {
    const a = spread(ds.length, i, -Math.PI * 0.4, Math.PI * 0.4);
    return [cx + 160 * Math.cos(a), cy + 120 * Math.sin(a)];
  });
  return html`
    <svg class="graph" viewBox="0 0 ${W} ${H}" role="img"
      aria-label="mesh graph">
      ${ps.map((p, i) =>
        html`
          <line x1=${cx} y1=${cy} x2=${peerPos[i][0]} y2=${peerPos[i][1]}
            class=${p.connected ? "edge" : "edge down"} />
        `
      )}
      ${ds.map((d, i) =>
        html`
          <line x1=${cx} y1=${cy} x2=${devPos[i][0]} y2=${devPos[i][1]}
            class=${d.online ? "edge dev" : "edge down"} />
        `
      )}
      ${ps.map((p, i) => {
        const [x, y] = peerPos[i];
        return html`
          <g class=${p.connected ? "peer" : "peer down"}
            data-graph-peer=${p.peerId}>
                  <title>${p.peerId}\\n${(p.addresses ?? []).join("\n")}</title>
                  <circle cx=${x} cy=${y} r="16" />
                  <text x=${x} y=${y + 30} text-anchor="middle">${p.name ??
                    shortId(p.peerId)}</text>
                  ${p.connected && p.rttMs !== undefined
                    ? html`
                      <text class="rtt" x=${(x + cx) / 2} y=${(y + cy) / 2 - 4}
                        text-anchor="middle">${p.rttMs} ms</text>
                    `
                    : null}
                </g>
        `;
      })}
      ${ds.map((d, i) => {
        const [x, y] = devPos[i];
        return html`
          <g class=${d.online
            ? (d.sleeping ? "device sleeping" : "device")
            : "device down"}>
            <title>device ${d.deviceId} ${d.address}</title>
            <rect x=${x - 9} y=${y - 9} width="18" height="18" rx="3" />
            <text x=${x + 14} y=${y + 4}>${d.deviceId}</text>
          </g>
        `;
      })}
      <g class="self">
        <title>${self.peerId}\\n${self.listenAddresses.join("\n")}</title>
        <circle cx=${cx} cy=${cy} r="24" />
        <text x=${cx} y=${cy + 40} text-anchor="middle">${self.name}</text>
      </g>
      ${more > 0
        ? html`
          <text x=${W - 8} y=${H - 8} text-anchor="end"
            class="muted">+${more} devices</text>
        `
        : null}
    </svg>
  `;
}

/** The peers as a table. */
export function PeerTable({ peers, now }) {
  const ps = [...peers.values()].sort((a, b) =>
    Number(b.connected) - Number(a.connected) ||
    (a.name ?? "").localeCompare(b.name ?? "")
  );
  if (ps.length === 0) return html`<p class="muted">No peers in view.</p>`;
  return html`
    <table class="peers">
      <thead>
        <tr>
          <th>name</th>
          <th>peer</th>
          <th>address</th>
          <th>state</th>
          <th>rtt</th>
        </tr>
      </thead>
      <tbody>${ps.map((p) =>
        html`
          <tr data-peer=${p.peerId} data-connected=${String(p.connected)}>
            <td class="name">${p.name ?? "?"}</td>
            <td title=${p.peerId}>${shortId(p.peerId)}</td>
            <td class="addr">${p.remoteAddress ?? p.addresses?.[0] ?? ""}</td>
            <td>${p.connected ? "connected" : "gone"} ${ago(p.since, now)}</td>
            <td>${p.rttMs !== undefined ? `${p.rttMs} ms` : "—"}</td>
          </tr>
        `
      )}</tbody>
    </table>
  `;
}

// ---- devices ----------------------------------------------------------------

/** One card per device; sensors from the shared context. */
export function Devices({ devices, context, now }) {
  const [filter, setFilter] = useState("");
  const ds = [...devices.values()]
    .filter((d) => d.deviceId.includes(filter.trim()))
    .sort((a, b) =>
      Number(b.online) - Number(a.online) ||
      a.deviceId.localeCompare(b.deviceId, undefined, { numeric: true })
    );
  const sensors = valueAt(context, "avi.sensors") ?? {};
  return html`
    <div>
      <div class="toolbar">
        <input placeholder="device id" value=${filter}
          onInput=${(e) => setFilter(e.currentTarget.value)} />
        <span class="muted">${[...devices.values()].filter((d) => d.online)
          .length} online of ${devices.size}</span>
      </div>
      <div class="cards">${ds.map((d) =>
        html`
          <${DeviceCard} key=${d.deviceId} d=${d}
            sensors=${sensors[d.deviceId]} now=${now} />
        `
      )}</div>
    </div>
  `;
}

function DeviceCard({ d, sensors, now }) {
  const flashing = d.lastPress && now - d.lastPress.ts < 1500;
  const state = d.online ? (d.sleeping ? "sleeping" : "online") : "offline";
  const readings = sensors && typeof sensors === "object"
    ? Object.entries(sensors)
    : [];
  return html`
    <div class=${`card ${state}${flashing ? " flash" : ""}`}
      data-device=${d.deviceId} data-state=${state}
      data-presses=${String(d.presses)}>
        <div class="card-head">
          <b>device ${d.deviceId}</b>
          <span class=${`badge ${state}`}>${state}</span>
        </div>
        <dl>
          <dt>address</dt><dd>${d.address || "—"}</dd>
          <dt>last seen</dt><dd>${ago(
            d.lastSeen,
            now,
          )}${!d.online && d.goneReason ? ` (${d.goneReason})` : ""}</dd>
          <dt>subscribed</dt><dd>${d.subscriptions.join(", ") || "—"}</dd>
          <dt>queued</dt><dd>${d.queued}</dd>
          <dt>events</dt><dd>${d.events}${d.presses > 0
            ? `, ${d.presses} press${d.presses > 1 ? "es" : ""}`
            : ""}${d.lastPress
            ? ` (last: ${d.lastPress.type ?? "press"}${
              d.lastPress.buttonId !== undefined
                ? ` of button ${d.lastPress.buttonId}`
                : ""
            })`
            : ""}</dd>
        </dl>
        ${readings.length > 0
          ? html`<ul class="sensors">${
            readings.map(([name, r]) => {
              const v = r?.data?.value;
              return html`<li data-sensor=${name}>
            <span class="sensor-name">${name}</span>
            <span class="sensor-value">${
                typeof v === "number"
                  ? String(Math.round(v * 100) / 100)
                  : String(v)
              }</span><span class="unit">${r?.data?.unit ?? ""}</span>
          </li>`;
            })
          }</ul>`
          : null}
      </div>
  `;
}

// ---- the shared context -----------------------------------------------------

/** Who last wrote `path` (or the nearest ancestor written as a whole). */
function writerOf(writes, path) {
  let p = path;
  for (;;) {
    if (writes[p]) return writes[p];
    const i = p.lastIndexOf(".");
    if (i < 0) return undefined;
    p = p.slice(0, i);
  }
}

/** The context as a tree, editable unless read-only. */
export function ContextTree({ context, writes, self, now, api }) {
  const keys = Object.keys(context).sort();
  return html`<div class="tree">
    ${self.readOnly ? null : html`<${SetForm} api=${api} />`}
    ${
    keys.length === 0
      ? html`<p class="muted">The shared context is empty.</p>`
      : keys.map((k) =>
        html`
          <${TreeNode} key=${k} name=${k} path=${k} value=${context[k]}
            depth=${0} writes=${writes} self=${self} now=${now}
            api=${api} />
        `
      )
  }
  </div>`;
}

function TreeNode({ name, path, value, depth, writes, self, now, api }) {
  const isObject = value !== null && typeof value === "object" &&
    !Array.isArray(value);
  const [open, setOpen] = useState(depth < 2);
  if (isObject) {
    const keys = Object.keys(value).sort((a, b) =>
      a.localeCompare(b, undefined, { numeric: true })
    );
    return html`<div class="branch" data-path=${path}>
      <button class="twisty" onClick=${() => setOpen(!open)}>
        ${open ? "▾" : "▸"} ${name}</button>
      <span class="muted"> ${keys.length} key${
      keys.length === 1 ? "" : "s"
    }</span>
      ${
      open
        ? html`<div class="children">${
          keys.map((k) =>
            html`
              <${TreeNode} key=${k} name=${k} path=${`${path}.${k}`}
                value=${value[k]} depth=${depth + 1} writes=${writes}
                self=${self} now=${now} api=${api} />
            `
          )
        }</div>`
        : null
    }
    </div>`;
  }
  return html`
    <${Leaf} name=${name} path=${path} value=${value}
      writes=${writes} self=${self} now=${now} api=${api} />
  `;
}

function Leaf({ name, path, value, writes, self, now, api }) {
  const [editing, setEditing] = useState(false);
  const w = writerOf(writes, path);
  const by = w ? (w.by === self.peerId ? "this node" : shortId(w.by)) : "";
  return html`<div class="leaf" data-path=${path}>
    <span class="key">${name}</span>
    ${
    editing
      ? html`
        <${Editor} path=${path} value=${value} api=${api}
          done=${() => setEditing(false)} />
      `
      : html`
        <span class=${`value ${typeOf(value)}`} data-value=${showValue(
          value,
        )} title=${self.readOnly ? "" : "click to edit"}
          onClick=${() => !self.readOnly && setEditing(true)}>${showValue(
            value,
          )}</span>
      `
  }
    ${
    w
      ? html`<span class="writer" title=${w.by}>${by}, ${ago(w.at, now)}</span>`
      : null
  }
    ${
    self.readOnly || editing ? null : html`
      <button class="small edit"
        onClick=${() => setEditing(true)}>edit</button>
      <button class="small del" title="delete"
        onClick=${() => api.deleteContext(path)}>✕</button>
    `
  }
  </div>`;
}

function Editor({ path, value, api, done }) {
  const [type, setType] = useState(typeOf(value));
  const [text, setText] = useState(
    typeof value === "string" ? value : JSON.stringify(value),
  );
  const [error, setError] = useState("");
  const input = useRef(null);
  useEffect(() => {
    input.current?.focus();
    input.current?.select();
  }, []);
  const save = async () => {
    let v;
    try {
      v = parseTyped(text, type);
    } catch (e) {
      setError(e.message);
      return;
    }
    const err = await api.setContext(path, v);
    if (err) setError(err);
    else done();
  };
  return html`<span class="editor">
    <input ref=${input} class="edit-input" value=${text}
      onInput=${(e) => setText(e.currentTarget.value)}
      onKeyDown=${(e) => {
    if (e.key === "Enter") save();
    if (e.key === "Escape") done();
  }} />
    <select class="edit-type" value=${type}
      onChange=${(e) => setType(e.currentTarget.value)}>
      <option value="string">string</option>
      <option value="number">number</option>
      <option value="boolean">boolean</option>
      <option value="json">JSON</option>
    </select>
    <button class="small" onClick=${save}>save</button>
    <button class="small" onClick=${done}>cancel</button>
    ${error ? html`<span class="error">${error}</span>` : null}
  </span>`;
}

function SetForm({ api }) {
  const [path, setPath] = useState("");
  const [text, setText] = useState("");
  const [type, setType] = useState("json");
  const [error, setError] = useState("");
  const submit = async (e) => {
    e.preventDefault();
    let v;
    try {
      v = parseTyped(text, type);
    } catch (err) {
      setError(err.message);
      return;
    }
    const err = await api.setContext(path.trim(), v);
    setError(err ?? "");
    if (!err) setText("");
  };
  return html`<form class="toolbar set-form" onSubmit=${submit}>
    <input class="set-path" placeholder="path (home.lights.kitchen)" value=${path}
      onInput=${(e) => setPath(e.currentTarget.value)} />
    <input class="set-value" placeholder="value" value=${text}
      onInput=${(e) => setText(e.currentTarget.value)} />
    <select value=${type} onChange=${(e) => setType(e.currentTarget.value)}>
      <option value="json">JSON</option><option value="string">string</option>
      <option value="number">number</option><option value="boolean">boolean</option>
    </select>
    <button type="submit">set</button>
    ${error ? html`<span class="error">${error}</span>` : null}
  </form>`;
}

// ---- messages ---------------------------------------------------------------

const SHOWN_MESSAGES = 200;

/** The message log: watch topics, filter, pause, payload format. */
export function MessageLog({ messages, watched, self, api }) {
  const [filter, setFilter] = useState("");
  const [format, setFormat] = useState("text");
  const [paused, setPaused] = useState(undefined);
  const [topic, setTopic] = useState("");
  const [error, setError] = useState("");
  const source = paused ?? messages;
  const waiting = paused
    ? messages.filter((m) => m.seq > (paused.at(-1)?.seq ?? 0)).length
    : 0;
  const shown = useMemo(
    () =>
      source.filter((m) => topicMatches(m.topic, filter)).slice(
        -SHOWN_MESSAGES,
      ).reverse(),
    [source, filter],
  );
  const watch = async (e) => {
    e.preventDefault();
    const err = await api.watch(topic.trim());
    setError(err ?? "");
    if (!err) setTopic("");
  };
  return html`<div>
    ${
    self.readOnly ? null : html`<form class="toolbar" onSubmit=${watch}>
      <input class="watch-topic" placeholder="topic to subscribe to"
        value=${topic} onInput=${(e) => setTopic(e.currentTarget.value)} />
      <button type="submit" class="watch">watch</button>
      ${error ? html`<span class="error">${error}</span>` : null}
    </form>`
  }
    <div class="toolbar">
      ${
    watched.map((t) =>
      html`<span class="chip" data-watched=${t}>${t}${
        self.readOnly ? null : html`
          <button class="small"
            onClick=${() => api.unwatch(t)}>✕</button>
        `
      }</span>`
    )
  }
    </div>
    <div class="toolbar">
      <input class="filter" placeholder="filter: home/+/light, device/#, text"
        value=${filter} onInput=${(e) => setFilter(e.currentTarget.value)} />
      <select class="format" value=${format}
        onChange=${(e) => setFormat(e.currentTarget.value)}>
        <option value="text">text</option>
        <option value="json">JSON</option>
        <option value="hex">hex</option>
      </select>
      <button class="pause" onClick=${() =>
    setPaused(paused ? undefined : messages)}>${
    paused ? `resume (${waiting} new)` : "pause"
  }</button>
    </div>
    <div class="log">
      ${
    shown.length === 0
      ? html`<p class="muted">No messages${
        filter ? " match the filter" : ""
      }.</p>`
      : shown.map((m) =>
        html`
          <div class=${m.mine ? "msg mine" : "msg"} key=${m.seq}
            data-topic=${m.topic}>
            <span class="ts">${new Date(m.ts).toLocaleTimeString()}</span>
            <span class="topic">${m.topic}</span>
            <span class="from" title=${m.from}>${m.mine
              ? "this node"
              : shortId(m.from)}</span>
            <span class="size">${m.size} B</span>
            <pre class="payload">${formatPayload(m.data, m.size, format)}</pre>
          </div>
        `
      )
  }
    </div>
  </div>`;
}

// ---- streams and counters ---------------------------------------------------

/** The node's open (and lately closed) streams. */
export function Streams({ streams, peers }) {
  if (streams.length === 0) return html`<p class="muted">No streams.</p>`;
  return html`
    <table class="streams">
      <thead>
        <tr>
          <th>id</th>
          <th>peer</th>
          <th>mode</th>
          <th>dir</th>
          <th>state</th>
          <th>frames out/in</th>
          <th>lost</th>
          <th>dropped</th>
          <th>jitter</th>
          <th>latency</th>
        </tr>
      </thead>
      <tbody>${streams.map((s) =>
        html`
          <tr data-stream=${s.id}>
            <td title=${s.id}>${shortId(s.id)}</td>
            <td>${peers.get(s.peer)?.name ?? shortId(s.peer)}</td>
            <td>${s.mode}</td>
            <td>${s.direction}</td>
            <td>${s.state}</td>
            <td>${s.framesSent}/${s.framesReceived}</td>
            <td>${s.lost}</td>
            <td>${s.dropped}</td>
            <td>${s.jitterMs} ms</td>
            <td>${s.latencyMs} ms</td>
          </tr>
        `
      )}</tbody>
    </table>
  `;
}

function flatten(obj, prefix = "", out = []) {
  for (const [k, v] of Object.entries(obj ?? {})) {
    if (v !== null && typeof v === "object") flatten(v, `${prefix}${k}.`, out);
    else out.push([`${prefix}${k}`, v]);
  }
  return out;
}

/** The node's and the bridge's counters. */
export function Counters({ stats }) {
  const groups = [["node", stats.mesh], ["bridge", stats.bridge]].filter((
    [, s],
  ) => s);
  return html`<div class="counters">${
    groups.map(([name, s]) =>
      html`
        <table data-counters=${name}>
          <caption>${name}</caption>
          <tbody>${flatten(s).map(([k, v]) =>
            html`
              <tr class=${v ? "" : "zero"}>
                <td>${k}</td>
                <td>${v}</td>
              </tr>
            `
          )}</tbody>
        </table>
      `
    )
  }</div>`;
}

/** Messages per second over the kept window: received and published. */
export function RatePlot({ rate }) {
  const W = 440, H = 110, pad = 4;
  const n = rate.in.length;
  const max = Math.max(1, ...rate.in.map((v, i) => v + rate.out[i]));
  const line = (vals) =>
    vals.map((v, i) =>
      `${(pad + (W - 2 * pad) * i / Math.max(1, n - 1)).toFixed(1)},${
        (H - pad - (H - 2 * pad) * v / max).toFixed(1)
      }`
    ).join(" ");
  const last = rate.in[n - 1] + rate.out[n - 1];
  return html`
    <figure class="plot">
      <svg viewBox="0 0 ${W} ${H}" role="img"
        aria-label="messages per second">
        <polyline class="in" points=${line(rate.in)} />
        <polyline class="out" points=${line(rate.out)} />
        <text x=${pad} y="12" class="muted">${max}/s</text>
      </svg>
      <figcaption>messages per second, last ${Math.round(
        n / 60,
      )} min: now ${last}/s
          (<span class="in">received</span>, <span class="out">published</span>)</figcaption>
    </figure>
  `;
}
