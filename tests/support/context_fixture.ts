// Test fixture: an in-memory gossip network for ContextSync unit tests, with
// seeded loss, duplication and reordering, partitions, and real Ed25519
// signatures (so forgery is really detected). Not a proof that the mesh works:
// tests/context_mesh_test.ts runs real libp2p nodes.
import { generateKeyPair } from "@libp2p/crypto/keys";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";
import type { PrivateKey, PublicKey } from "@libp2p/interface";
import type { PeerId } from "../../core/peer_id.ts";
import type {
  ContextTransport,
  TransportMessage,
} from "../../context/transport.ts";

/** Options of {@linkcode MemoryNetwork}. */
export interface MemoryNetworkOptions {
  /** Seed of the chaos. @default 1 */
  seed?: number;
  /** Probability that one delivery is lost. @default 0 */
  drop?: number;
  /** Probability that one delivery is duplicated. @default 0 */
  duplicate?: number;
  /** Deliveries wait a random 0..maxDelayMs (so they reorder). @default 0 */
  maxDelayMs?: number;
}

interface Member {
  id: PeerId;
  key: PrivateKey;
  up: boolean;
  group: number;
  subs: Map<string, Set<(m: TransportMessage) => void>>;
  direct: Set<(m: TransportMessage) => void>;
  connected: Set<(p: PeerId) => void>;
}

/** An in-memory gossip network of {@linkcode MemoryTransport}s. */
export class MemoryNetwork {
  #rng: () => number;
  #members = new Map<string, Member>();
  #keys = new Map<string, PublicKey>(); // peer id -> public key
  #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly options: Required<MemoryNetworkOptions>;
  delivered = 0;
  /** Messages and bytes sent (gossip per receiver, and direct). */
  sent = 0;
  sentBytes = 0;

  constructor(options: MemoryNetworkOptions = {}) {
    this.options = {
      seed: 1,
      drop: 0,
      duplicate: 0,
      maxDelayMs: 0,
      ...options,
    };
    let s = this.options.seed >>> 0 || 1;
    this.#rng = () => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) / 0x1_0000_0000;
    };
  }

  /** A node with a fresh key, or (with `key`) the same identity again. */
  async join(key?: PrivateKey): Promise<MemoryTransport> {
    key ??= await generateKeyPair("Ed25519");
    const id = peerIdFromPrivateKey(key).toString() as PeerId;
    this.#keys.set(id, key.publicKey);
    const member: Member = {
      id,
      key,
      up: true,
      group: 0,
      subs: new Map(),
      direct: new Set(),
      connected: new Set(),
    };
    const old = this.#members.get(id);
    if (old) old.up = false;
    this.#members.set(id, member);
    const transport = new MemoryTransport(this, member);
    this.#announce(member);
    return transport;
  }

  /** Takes a node off the network (a crash or a stop). */
  leave(transport: MemoryTransport): void {
    transport.member.up = false;
  }

  /** Splits the network: nodes only hear nodes of the same group. */
  partition(groupOf: (id: PeerId) => number): void {
    for (const m of this.#members.values()) m.group = groupOf(m.id);
  }

  /** Heals every partition; reconnected peers are told of each other. */
  heal(): void {
    for (const m of this.#members.values()) m.group = 0;
    for (const m of this.#members.values()) if (m.up) this.#announce(m);
  }

  #peersOf(m: Member): Member[] {
    return [...this.#members.values()].filter((o) =>
      o !== m && o.up && o.group === m.group
    );
  }

  #announce(m: Member): void {
    for (const o of this.#peersOf(m)) {
      this.#later(() => {
        if (!m.up || !o.up || m.group !== o.group) return;
        for (const h of o.connected) h(m.id);
        for (const h of m.connected) h(o.id);
      }, 0);
    }
  }

  connectedPeers(m: Member): PeerId[] {
    return m.up ? this.#peersOf(m).map((o) => o.id) : [];
  }

  publish(m: Member, topic: string, data: Uint8Array): Promise<void> {
    if (!m.up) return Promise.reject(new Error("not started"));
    const targets = this.#peersOf(m).filter((o) =>
      (o.subs.get(topic)?.size ?? 0) > 0
    );
    if (targets.length === 0) {
      return Promise.reject(new Error("no peers subscribed to topic"));
    }
    for (const o of targets) {
      this.sent++;
      this.sentBytes += data.length;
      this.#deliver(m, o, () => o.subs.get(topic) ?? [], data);
    }
    return Promise.resolve();
  }

  /** A direct message to one peer (same loss, duplication and delay). */
  send(m: Member, to: PeerId, data: Uint8Array): Promise<void> {
    if (!m.up) return Promise.reject(new Error("not started"));
    const o = this.#members.get(to);
    if (!o || !o.up || o.group !== m.group || o.direct.size === 0) {
      return Promise.reject(new Error("not connected"));
    }
    this.sent++;
    this.sentBytes += data.length;
    this.#deliver(m, o, () => o.direct, data);
    return Promise.resolve();
  }

  #deliver(
    m: Member,
    o: Member,
    handlers: () => Iterable<(m: TransportMessage) => void>,
    data: Uint8Array,
  ): void {
    if (this.#rng() < this.options.drop) return;
    const copies = this.#rng() < this.options.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = Math.floor(this.#rng() * (this.options.maxDelayMs + 1));
      this.#later(() => {
        if (!o.up || !m.up || o.group !== m.group) return;
        this.delivered++;
        for (const h of handlers()) h({ from: m.id, data: data.slice() });
      }, delay);
    }
  }

  async sign(m: Member, data: Uint8Array): Promise<Uint8Array> {
    return await m.key.sign(data);
  }

  async verify(
    id: PeerId,
    data: Uint8Array,
    sig: Uint8Array,
  ): Promise<boolean> {
    const key = this.#keys.get(id);
    if (!key) return false;
    try {
      return await key.verify(data, sig);
    } catch {
      return false;
    }
  }

  #later(f: () => void, ms: number): void {
    const id = setTimeout(() => {
      this.#timers.delete(id);
      f();
    }, ms);
    this.#timers.add(id);
  }

  /** Cancels every pending delivery (call at the end of a test). */
  close(): void {
    for (const id of this.#timers) clearTimeout(id);
    this.#timers.clear();
    for (const m of this.#members.values()) m.up = false;
  }
}

/** One node's view of a {@linkcode MemoryNetwork}. */
export class MemoryTransport implements ContextTransport {
  constructor(readonly network: MemoryNetwork, readonly member: Member) {}
  get localPeerId(): PeerId {
    return this.member.id;
  }
  get privateKey(): PrivateKey {
    return this.member.key;
  }
  publish(topic: string, data: Uint8Array): Promise<void> {
    return this.network.publish(this.member, topic, data);
  }
  subscribe(topic: string, handler: (m: TransportMessage) => void): () => void {
    let set = this.member.subs.get(topic);
    if (!set) this.member.subs.set(topic, set = new Set());
    set.add(handler);
    return () => set.delete(handler);
  }
  onPeerConnected(handler: (peerId: PeerId) => void): () => void {
    this.member.connected.add(handler);
    return () => this.member.connected.delete(handler);
  }
  connectedPeers(): PeerId[] {
    return this.network.connectedPeers(this.member);
  }
  send(peer: PeerId, data: Uint8Array): Promise<void> {
    return this.network.send(this.member, peer, data);
  }
  onDirect(handler: (m: TransportMessage) => void): () => void {
    this.member.direct.add(handler);
    return () => this.member.direct.delete(handler);
  }
  sign(data: Uint8Array): Promise<Uint8Array> {
    return Promise.resolve(this.network.sign(this.member, data));
  }
  verify(
    peerId: PeerId,
    data: Uint8Array,
    signature: Uint8Array,
  ): Promise<boolean> {
    return Promise.resolve(this.network.verify(peerId, data, signature));
  }
}
