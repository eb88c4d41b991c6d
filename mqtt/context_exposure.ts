/**
 * The exposed context paths at run time: their discovery configs and state
 * topics kept in step with the shared context, and commands from MQTT
 * turned into `updateContext` calls. A command is never echoed: states go
 * to state topics only, and the context is written only for a command.
 *
 * @module
 */

import type { JsonObject, JsonValue } from "../mod.ts";
import type { BrokerLink } from "./broker_link.ts";
import {
  commandValue,
  type ContextEntity,
  entitiesIn,
  entityFields,
  patchAt,
  statePayload,
} from "./context_entities.ts";
import type { Discovery } from "./discovery.ts";
import type { ResolvedMqttOptions } from "./options.ts";

const td = new TextDecoder();

/** The context entities of one bridge. */
export class ContextExposure {
  /** Counters. */
  readonly counters = { commands: 0, commandsRefused: 0 };
  readonly #o: ResolvedMqttOptions;
  readonly #disc: Discovery;
  readonly #link: BrokerLink;
  readonly #update: (patch: JsonObject) => Promise<unknown>;
  readonly #entities = new Map<
    string,
    { entity: ContextEntity; topic: string }
  >();
  readonly #commands = new Map<string, string>();

  /**
   * @param o The bridge's options (`context`, `onLog`).
   * @param disc The discovery payloads.
   * @param link The broker link.
   * @param update The node's `updateContext`.
   */
  constructor(
    o: ResolvedMqttOptions,
    disc: Discovery,
    link: BrokerLink,
    update: (patch: JsonObject) => Promise<unknown>,
  ) {
    this.#o = o;
    this.#disc = disc;
    this.#link = link;
    this.#update = update;
  }

  /** Brings configs and states in step with the context document. */
  refresh(doc: JsonObject): void {
    const topics = this.#disc.topics;
    const seen = new Set<string>();
    for (const e of entitiesIn(doc, this.#o.context)) {
      seen.add(e.path);
      const a = this.#disc.contextEntity(e.path, e.component, entityFields(e));
      const prev = this.#entities.get(e.path);
      if (prev && prev.topic !== a.topic) this.#link.clear(prev.topic);
      this.#link.announce(a.topic, JSON.stringify(a.config));
      this.#entities.set(e.path, { entity: e, topic: a.topic });
      this.#commands.set(topics.contextCommand(e.path), e.path);
      this.#link.setState(topics.contextState(e.path), statePayload(e));
    }
    for (const [path, { topic }] of [...this.#entities]) {
      if (seen.has(path)) continue;
      this.#entities.delete(path);
      this.#commands.delete(topics.contextCommand(path));
      this.#link.clear(topic);
      this.#link.clear(topics.contextState(path));
    }
  }

  /**
   * A message on a command topic becomes a context change.
   *
   * @returns False when `topic` is no command topic.
   */
  command(topic: string, payload: Uint8Array): boolean {
    const path = this.#commands.get(topic);
    if (path === undefined) return false;
    this.#apply(path, td.decode(payload));
    return true;
  }

  async #apply(path: string, payload: string): Promise<void> {
    const entry = this.#entities.get(path);
    if (!entry) return;
    const r = commandValue(entry.entity, payload);
    if ("refused" in r) {
      this.counters.commandsRefused++;
      this.#o.onLog("warn", `mqtt: command for ${path} refused: ${r.refused}`);
      return;
    }
    try {
      await this.#update(patchAt(path, r.value as JsonValue));
      this.counters.commands++;
    } catch (e) {
      this.counters.commandsRefused++;
      this.#o.onLog(
        "warn",
        `mqtt: command for ${path} refused by the context: ${
          (e as Error).message
        }`,
      );
    }
  }
}
