// The page's state: a snapshot from the server, then updates applied to it.
// Plain functions, no DOM: each returns a new state object (collections that
// changed are new objects, so that components re-render).

/** Messages the page keeps (newest last). */
export const MAX_MESSAGES = 500;
/** Seconds of message rate the page keeps. */
export const RATE_SECONDS = 300;

/** The state from a snapshot event. */
export function fromSnapshot(snap, previous) {
  const peers = new Map(snap.peers.map((p) => [p.peerId, p]));
  const devices = new Map(snap.devices.map((d) => [d.deviceId, d]));
  return {
    self: snap.self,
    clockOffset: snap.now - Date.now(),
    peers,
    devices,
    context: snap.context,
    writes: snap.writes,
    messages: snap.messages.slice(-MAX_MESSAGES),
    lastSeq: snap.messages.length > 0
      ? snap.messages[snap.messages.length - 1].seq
      : 0,
    watched: snap.watched,
    streams: snap.streams,
    stats: snap.stats,
    rate: padRate(snap.rate),
    lag: snap.lag,
    droppedUpdates: (previous?.droppedUpdates ?? 0) +
      (snap.droppedUpdates ?? 0),
    resyncs: (previous?.resyncs ?? 0) + (snap.droppedUpdates ? 1 : 0),
  };
}

/** The state after one update event. */
export function applyUpdate(s, u) {
  const next = { ...s, clockOffset: u.now - Date.now() };
  if (u.peers || u.peersGone) {
    next.peers = new Map(s.peers);
    for (const p of u.peers ?? []) next.peers.set(p.peerId, p);
    for (const id of u.peersGone ?? []) next.peers.delete(id);
  }
  if (u.devices) {
    next.devices = new Map(s.devices);
    for (const d of u.devices) next.devices.set(d.deviceId, d);
  }
  if (u.context) {
    if (u.context.full) next.context = u.context.full;
    else {
      let doc = s.context;
      for (const [path, value] of u.context.set ?? []) {
        doc = setIn(doc, path.split("."), value);
      }
      next.context = doc;
    }
  }
  if (u.writes) next.writes = { ...s.writes, ...u.writes };
  if (u.messages) {
    const fresh = u.messages.filter((m) => m.seq > s.lastSeq);
    if (fresh.length > 0) {
      next.messages = s.messages.concat(fresh).slice(-MAX_MESSAGES);
      next.lastSeq = fresh[fresh.length - 1].seq;
    }
  }
  if (u.watched) next.watched = u.watched;
  if (u.streams) next.streams = u.streams;
  if (u.stats) next.stats = u.stats;
  if (u.lag) next.lag = u.lag;
  if (u.rate) next.rate = mergeRate(s.rate, u.rate);
  return next;
}

/** `doc` with `value` at `keys` (null deletes), sharing what did not change. */
export function setIn(doc, keys, value) {
  const [k, ...rest] = keys;
  const base = doc !== null && typeof doc === "object" && !Array.isArray(doc)
    ? doc
    : {};
  if (rest.length === 0) {
    const out = { ...base };
    if (value === null || value === undefined) delete out[k];
    else out[k] = value;
    return out;
  }
  const child = setIn(base[k], rest, value);
  const out = { ...base };
  if (Object.keys(child).length === 0) delete out[k];
  else out[k] = child;
  return out;
}

/** The value at a dotted path, or undefined. */
export function valueAt(doc, path) {
  let v = doc;
  for (const k of path.split(".")) {
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, k)) {
      return undefined;
    }
    v = v[k];
  }
  return v;
}

function padRate(r) {
  const pad = (a) =>
    Array(Math.max(0, RATE_SECONDS - a.length)).fill(0)
      .concat(a.slice(-RATE_SECONDS));
  return { end: r.end, in: pad(r.in), out: pad(r.out) };
}

/** Appends the seconds of `u` after `r.end` (gaps count zero). */
function mergeRate(r, u) {
  if (u.end <= r.end) return r;
  const first = u.end - u.in.length + 1;
  const add = { in: [], out: [] };
  for (let sec = r.end + 1; sec <= u.end; sec++) {
    const i = sec - first;
    add.in.push(i >= 0 ? u.in[i] : 0);
    add.out.push(i >= 0 ? u.out[i] : 0);
  }
  return padRate({
    end: u.end,
    in: r.in.concat(add.in),
    out: r.out.concat(add.out),
  });
}

// ---- formatting -------------------------------------------------------------

/** The bytes of base64 text. */
export function fromBase64(b64) {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A payload as text, indented JSON or hex. */
export function formatPayload(b64, size, format) {
  const bytes = fromBase64(b64);
  const cut = size > bytes.length ? ` … (${size} bytes)` : "";
  if (format === "hex") {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join(" ") +
      cut;
  }
  let text;
  try {
    text = utf8.decode(bytes);
  } catch {
    return `(binary) ${
      Array.from(bytes.subarray(0, 64), (b) => b.toString(16).padStart(2, "0"))
        .join(" ")
    }${cut}`;
  }
  if (format === "json") {
    try {
      return JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      return `(not JSON) ${text}${cut}`;
    }
  }
  return text + cut;
}

/** Does `topic` match `filter` (an MQTT pattern with + and #, or a substring)? */
export function topicMatches(topic, filter) {
  const f = filter.trim();
  if (f === "") return true;
  if (!f.includes("+") && !f.includes("#")) return topic.includes(f);
  const fs = f.split("/");
  const ts = topic.split("/");
  for (let i = 0; i < fs.length; i++) {
    if (fs[i] === "#") return true;
    if (i >= ts.length) return false;
    if (fs[i] !== "+" && fs[i] !== ts[i]) return false;
  }
  return fs.length === ts.length;
}

/** A short form of a peer id. */
export function shortId(id) {
  return id && id.length > 12 ? `…${id.slice(-8)}` : id ?? "";
}

/** "3 s ago", "2 min ago". */
export function ago(ts, now) {
  if (!ts) return "never";
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

/** A value as shown in the context tree. */
export function showValue(v) {
  return typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v);
}

/** The type of an editable value: string, number, boolean or json. */
export function typeOf(v) {
  if (
    typeof v === "string" || typeof v === "number" ||
    typeof v === "boolean"
  ) return typeof v;
  return "json";
}

/**
 * The value of what was typed, as `type`.
 * @throws {Error} It is not one.
 */
export function parseTyped(text, type) {
  switch (type) {
    case "string":
      return text;
    case "number": {
      const n = Number(text.trim());
      if (text.trim() === "" || !Number.isFinite(n)) {
        throw new Error(`not a number: ${text}`);
      }
      return n;
    }
    case "boolean":
      if (text.trim() === "true") return true;
      if (text.trim() === "false") return false;
      throw new Error("true or false");
    default:
      return JSON.parse(text);
  }
}
