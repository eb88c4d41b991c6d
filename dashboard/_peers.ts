/**
 * The mesh's peers as the dashboard sees them: one {@linkcode PeerView} per
 * peer, kept from the node's peer events and polled (connected peers, names
 * and addresses, round-trip times), with which ones changed or went while a
 * page is attached.
 *
 * @module
 */

import type { DashboardHandle } from "./options.ts";
import type { DashboardUpdate, PeerView } from "./types.ts";
import { BOUNDS, trim } from "./_tables.ts";

/** The peers this node knows of, bounded by {@linkcode BOUNDS.peers}. */
export class PeerTable {
  readonly #h: DashboardHandle;
  #peers = new Map<string, PeerView>();
  #dirty = new Set<string>();
  #gone = new Set<string>();
  #active = false;

  constructor(handle: DashboardHandle) {
    this.#h = handle;
  }

  /** Whether changes are collected (a page is attached); forgets them either way. */
  setActive(active: boolean): void {
    this.#active = active;
    this.#dirty.clear();
    this.#gone.clear();
  }

  /** Every peer. */
  views(): PeerView[] {
    return [...this.#peers.values()];
  }

  /** Puts the peers changed or gone since the previous call in `u`; whether any. */
  collect(u: DashboardUpdate): boolean {
    let any = false;
    if (this.#dirty.size > 0) {
      u.peers = [...this.#dirty].map((id) => this.#peers.get(id))
        .filter((p): p is PeerView => p !== undefined);
      this.#dirty.clear();
      any = true;
    }
    if (this.#gone.size > 0) {
      u.peersGone = [...this.#gone];
      this.#gone.clear();
      any = true;
    }
    return any;
  }

  /** A peer found (not connected), unless known already. */
  discovered(id: string): void {
    if (!this.#peers.has(id)) {
      this.#set({
        peerId: id,
        addresses: [],
        connected: false,
        since: Date.now(),
      });
    }
  }

  /** A peer that disconnected. */
  down(id: string): void {
    const p = this.#peers.get(id);
    if (p) {
      this.#set({
        ...p,
        connected: false,
        remoteAddress: undefined,
        since: Date.now(),
      });
    }
  }

  /** A peer that connected (at `address`, when known). */
  up(id: string, address: string | undefined): void {
    const p = this.#peers.get(id);
    this.#set({
      peerId: id,
      addresses: p?.addresses ?? [],
      name: p?.name,
      rttMs: p?.rttMs,
      connected: true,
      remoteAddress: address ?? p?.remoteAddress,
      since: p?.connected ? p.since : Date.now(),
    });
    if (p?.name === undefined) this.#refresh(id);
  }

  async #refresh(id: string): Promise<void> {
    const info = await this.#h.peerInfo(id).catch(() => undefined);
    const p = this.#peers.get(id);
    if (!info || !p) return;
    const name = info.agentVersion ?? p.name;
    const addresses = info.addresses;
    if (
      name === p.name &&
      JSON.stringify(addresses) === JSON.stringify(p.addresses)
    ) return;
    this.#set({ ...p, name, addresses });
  }

  /** Takes the connected peers, and the names and addresses of new ones. */
  async poll(): Promise<void> {
    const ids = new Set<string>(await this.#h.connectedPeers());
    for (const id of ids) {
      const p = this.#peers.get(id);
      if (!p || !p.connected) this.up(id, undefined);
      else await this.#refresh(id);
    }
    for (const p of this.#peers.values()) {
      if (p.connected && !ids.has(p.peerId)) {
        this.#set({
          ...p,
          connected: false,
          remoteAddress: undefined,
          since: Date.now(),
        });
      }
    }
  }

  /** Takes every connected peer's round-trip time. */
  async ping(): Promise<void> {
    const up = [...this.#peers.values()].filter((p) => p.connected);
    await Promise.all(up.map(async (p) => {
      const rtt = await this.#h.ping(p.peerId, { timeoutMs: 2000 }).catch(
        () => undefined,
      );
      const now = this.#peers.get(p.peerId);
      if (rtt === undefined || !now) return;
      this.#set({ ...now, rttMs: Math.round(rtt * 10) / 10 });
    }));
  }

  #set(p: PeerView): void {
    if (p.remoteAddress === undefined) delete p.remoteAddress;
    this.#peers.set(p.peerId, p);
    if (this.#active) {
      this.#dirty.add(p.peerId);
      this.#gone.delete(p.peerId);
    }
    if (this.#peers.size > BOUNDS.peers) {
      const before = new Set(this.#peers.keys());
      trim(this.#peers, BOUNDS.peers, (v) => !v.connected);
      for (const id of before) {
        if (!this.#peers.has(id) && this.#active) {
          this.#gone.add(id);
          this.#dirty.delete(id);
        }
      }
    }
  }
}
