/**
 * @avi/p2p: a zero-config mesh for smart-home and voice-assistant devices.
 *
 * @example
 * ```ts
 * import type { AviEvent } from "@avi/p2p";
 * const onEvent = (ev: AviEvent) => console.log(ev.type);
 * ```
 *
 * @module
 */
export {
  AviP2pError,
  ConfigError,
  InvalidAddressError,
  InvalidPathError,
  InvalidTopicError,
  LimitExceededError,
  NetworkError,
  NotStartedError,
  NotSubscribedError,
  PeerNotFoundError,
  StreamNotFoundError,
  StreamRejectedError,
  TooLargeError,
  UnstableApiError,
} from "./core/errors.ts";
export type {
  AviEvent,
  ContextUpdatedEvent,
  JsonObject,
  JsonValue,
  LaggedEvent,
  MessageEvent,
  PeerConnectedEvent,
  PeerDisconnectedEvent,
  PeerDiscoveredEvent,
  StartedEvent,
  StreamAcceptedEvent,
  StreamClosedEvent,
  StreamDataEvent,
  StreamRejectedEvent,
  StreamRequestedEvent,
} from "./core/events.ts";
export type { PeerId, StreamId } from "./core/peer_id.ts";
export {
  AviP2p,
  AviP2pHandle,
  CONFIG_DEFAULTS,
  EventStream,
  parsePeerId,
} from "./mesh/mod.ts";
export type {
  AviP2pConfig,
  EventStreamStats,
  MeshStats,
  PeerInfoView,
} from "./mesh/mod.ts";
export type {
  RequestStreamOptions,
  SendStreamOptions,
  StreamFrame,
  StreamMode,
  StreamServiceCounters,
  StreamStats,
} from "./streams/mod.ts";
export type { ContextSyncStats } from "./context/mod.ts";
