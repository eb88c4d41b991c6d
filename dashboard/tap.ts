/**
 * What this node publishes itself never comes back to it as a `message`
 * event (GossipSub does not deliver a node's own messages to it), so a
 * gateway's dashboard would not see the device events its bridge publishes.
 * A {@linkcode PublishTap} wraps the mesh the bridge is given and reports
 * each publication to the dashboard, unchanged.
 *
 * @module
 */

import type { BridgeMesh } from "../bridge/mod.ts";

/** Something told of each publication (topic and payload, as published). */
export type PublishListener = (topic: string, data: Uint8Array) => void;

/**
 * Reports what a mesh binding publishes. Give the wrapped mesh to the
 * bridge and the tap to {@linkcode serveDashboard}: device events (button
 * presses, sensor readings) then show on the page as they pass.
 *
 * A listener runs synchronously on the publishing path and must be cheap; a
 * listener that throws is ignored.
 *
 * @example
 * ```ts ignore
 * import { AviP2p } from "@avi/p2p";
 * import { EmbeddedBridge } from "@avi/p2p/bridge";
 * import { PublishTap, serveDashboard } from "@avi/p2p/dashboard";
 * const node = await AviP2p.start({ nodeName: "gateway" });
 * const tap = new PublishTap();
 * const bridge = await EmbeddedBridge.start(tap.wrap(node.handle()), {
 *   devices: {},
 * });
 * const dashboard = serveDashboard(node, { bridge, tap, port: 8080 });
 * ```
 */
export class PublishTap {
  #listeners = new Set<PublishListener>();

  /**
   * Adds a listener.
   * @returns A function that removes it.
   * @example
   * ```ts
   * import { PublishTap } from "@avi/p2p/dashboard";
   * const tap = new PublishTap();
   * const off = tap.listen((topic) => console.log(topic));
   * off();
   * ```
   */
  listen(listener: PublishListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Tells every listener of one publication (the wrapped mesh calls it once
   * the mesh accepted the message).
   * @example
   * ```ts
   * import { PublishTap } from "@avi/p2p/dashboard";
   * new PublishTap().report("home/lights", new TextEncoder().encode("on"));
   * ```
   */
  report(topic: string, data: Uint8Array): void {
    for (const l of this.#listeners) {
      try {
        l(topic, data);
      } catch { /* a listener's fault is its own */ }
    }
  }

  /**
   * A mesh binding that behaves as `mesh` and reports what goes through its
   * `publish` and `publishBatch` (each message of a batch once).
   * @example
   * ```ts ignore
   * import { PublishTap } from "@avi/p2p/dashboard";
   * const tap = new PublishTap();
   * const mesh = tap.wrap(node.handle());
   * ```
   */
  wrap(mesh: BridgeMesh): BridgeMesh {
    const out: BridgeMesh = {
      subscribe: (topic) => mesh.subscribe(topic),
      unsubscribe: (topic) => mesh.unsubscribe(topic),
      publish: async (topic, data) => {
        const r = await mesh.publish(topic, data);
        this.report(topic, data);
        return r;
      },
      events: () => mesh.events(),
    };
    if (mesh.publishBatch) {
      const batch = mesh.publishBatch.bind(mesh);
      out.publishBatch = async (messages) => {
        const r = await batch(messages);
        for (const m of messages) this.report(m.topic, m.data);
        return r;
      };
    }
    if (mesh.subscriptions) out.subscriptions = mesh.subscriptions.bind(mesh);
    if (mesh.updateContext) out.updateContext = mesh.updateContext.bind(mesh);
    if (mesh.getContext) out.getContext = mesh.getContext.bind(mesh);
    if (mesh.requestStream) out.requestStream = mesh.requestStream.bind(mesh);
    if (mesh.sendStreamData) {
      out.sendStreamData = mesh.sendStreamData.bind(mesh);
    }
    if (mesh.closeStream) out.closeStream = mesh.closeStream.bind(mesh);
    return out;
  }
}
