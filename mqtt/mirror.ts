/**
 * Mesh topics mirrored both ways under an MQTT prefix (`avi/...`), the
 * payload unchanged, and never back to the side a message came from:
 *
 * - the node never gets its own mesh messages, so what comes in from MQTT
 *   does not go out again;
 * - with MQTT 5 the bridge subscribes with No Local (its own publications
 *   never come back), and marks what it mirrors out with the user property
 *   `avi-origin: mesh`, which another bridge on the same broker does not
 *   take in again; with MQTT 3.1.1 it recognises its own messages by topic
 *   and payload (a bounded count per message).
 *
 * @module
 */

import type { Buffer } from "node:buffer";
import type { PublishOptions, ReceivedPacket } from "./broker_link.ts";
import type { ResolvedMqttOptions } from "./options.ts";
import { hasMqttWildcard, matchPattern } from "./topics.ts";

/** The user property on messages mirrored out of a mesh. */
export const MESH_ORIGIN = "avi-origin";

/** Messages of its own a 3.1.1 bridge waits to see back, at most. */
const ECHO_CAP = 4096;

/** A short fingerprint of a message (MQTT 3.1.1 echo recognition). */
function fingerprint(topic: string, data: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < data.length; i++) {
    h = Math.imul(h ^ data[i], 0x01000193);
  }
  return `${topic}\u0000${data.length}:${h >>> 0}`;
}

/** What the mirror does with the broker and the mesh. */
export interface MirrorPorts {
  /** Publish to the broker now; false when it is down. */
  toBroker(
    topic: string,
    data: Uint8Array,
    opts: PublishOptions,
  ): boolean;
  /** Publish in the mesh. */
  toMesh(topic: string, data: Uint8Array): Promise<unknown>;
  /** Hand a message to this node's own devices (the mesh does not). */
  toLocalDevices(topic: string, data: Uint8Array): void;
}

/** Both directions of the mirror. */
export class Mirror {
  /** Counters. */
  readonly counters = {
    mirroredOut: 0,
    mirroredIn: 0,
    mirrorRefused: 0,
    echoesSuppressed: 0,
  };
  readonly #o: ResolvedMqttOptions;
  readonly #ports: MirrorPorts;
  readonly #echo = new Map<string, number>();

  /**
   * @param o The bridge's options (`mirror`, `mirrorPrefix`, `protocolVersion`).
   * @param ports The broker and the mesh.
   */
  constructor(o: ResolvedMqttOptions, ports: MirrorPorts) {
    this.#o = o;
    this.#ports = ports;
  }

  /** Whether any topic is mirrored. */
  get enabled(): boolean {
    return this.#o.mirror.length > 0;
  }

  /** The MQTT subscription of the way in. */
  get subscription(): string {
    return `${this.#o.mirrorPrefix}/#`;
  }

  /** Whether an MQTT topic lies under the prefix. */
  owns(mqttTopic: string): boolean {
    return this.enabled && mqttTopic.startsWith(`${this.#o.mirrorPrefix}/`);
  }

  #matches(meshTopic: string): boolean {
    for (const p of this.#o.mirror) if (matchPattern(p, meshTopic)) return true;
    return false;
  }

  /** A mesh message: to MQTT when its topic is mirrored. */
  out(topic: string, data: Uint8Array): void {
    if (!this.enabled || !this.#matches(topic)) return;
    if (hasMqttWildcard(topic)) {
      this.counters.mirrorRefused++;
      return;
    }
    const mqttTopic = `${this.#o.mirrorPrefix}/${topic}`;
    const opts: PublishOptions = { qos: 1 };
    if (this.#o.protocolVersion === 5) {
      opts.properties = { userProperties: { [MESH_ORIGIN]: "mesh" } };
    }
    if (!this.#ports.toBroker(mqttTopic, data, opts)) return;
    this.counters.mirroredOut++;
    if (this.#o.protocolVersion === 4) {
      const k = fingerprint(mqttTopic, data);
      this.#echo.set(k, (this.#echo.get(k) ?? 0) + 1);
      if (this.#echo.size > ECHO_CAP) {
        this.#echo.delete(this.#echo.keys().next().value as string);
      }
    }
  }

  /** An MQTT message under the prefix: to the mesh when its topic is mirrored. */
  async in(
    topic: string,
    payload: Buffer,
    packet: ReceivedPacket,
  ): Promise<void> {
    if (packet.properties?.userProperties?.[MESH_ORIGIN] !== undefined) {
      // Mirrored out of a mesh (another bridge's: with No Local ours never
      // comes back): it goes no further.
      this.counters.echoesSuppressed++;
      return;
    }
    const data = new Uint8Array(
      payload.buffer,
      payload.byteOffset,
      payload.byteLength,
    );
    if (this.#o.protocolVersion === 4) {
      const k = fingerprint(topic, data);
      const n = this.#echo.get(k);
      if (n !== undefined) {
        if (n <= 1) this.#echo.delete(k);
        else this.#echo.set(k, n - 1);
        this.counters.echoesSuppressed++;
        return;
      }
    }
    const meshTopic = topic.slice(this.#o.mirrorPrefix.length + 1);
    if (meshTopic === "" || !this.#matches(meshTopic)) {
      this.counters.mirrorRefused++;
      return;
    }
    const copy = data.slice();
    try {
      await this.#ports.toMesh(meshTopic, copy);
    } catch (e) {
      this.counters.mirrorRefused++;
      this.#o.onLog(
        "warn",
        `mqtt: ${topic} not mirrored to the mesh: ${(e as Error).message}`,
      );
      return;
    }
    this.counters.mirroredIn++;
    // This node never gets its own mesh message: its devices get it here.
    this.#ports.toLocalDevices(meshTopic, copy);
  }
}
