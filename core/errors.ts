/**
 * The typed errors of @avi/p2p. Every handle call rejects with a subclass of
 * {@linkcode AviP2pError}; callers match on `error.name` or `instanceof`.
 *
 * @module
 */

/**
 * Base class of every error this library raises on purpose.
 *
 * @example Catch any library error
 * ```ts
 * import { AviP2pError } from "@avi/p2p";
 * try {
 *   throw new AviP2pError("boom");
 * } catch (e) {
 *   if (e instanceof AviP2pError) console.log(e.name, e.message);
 * }
 * ```
 */
export class AviP2pError extends Error {
  /**
   * Creates the error.
   *
   * @param message What went wrong, in one sentence.
   * @param options `cause`: the underlying error, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "AviP2pError";
  }
}

/**
 * A call was made before `start` finished or after `shutdown`.
 *
 * @example
 * ```ts
 * import { NotStartedError } from "@avi/p2p";
 * const e = new NotStartedError();
 * console.log(e.name); // "NotStartedError"
 * ```
 */
export class NotStartedError extends AviP2pError {
  /**
   * Creates the error.
   *
   * @param message Defaults to a sentence saying the node is not running.
   */
  constructor(message = "The node is not running (not started, or shut down)") {
    super(message);
    this.name = "NotStartedError";
  }
}

/**
 * A configuration field has an invalid value. `field` names it.
 *
 * @example
 * ```ts
 * import { ConfigError } from "@avi/p2p";
 * const e = new ConfigError("listenPort", "must be an integer from 0 to 65535");
 * console.log(e.field, e.message);
 * ```
 */
export class ConfigError extends AviP2pError {
  /** The name of the offending config field. */
  readonly field: string;
  /**
   * Creates the error.
   *
   * @param field The config field's name.
   * @param problem What is wrong with its value.
   */
  constructor(field: string, problem: string, options?: ErrorOptions) {
    super(`Invalid config field "${field}": ${problem}`, options);
    this.name = "ConfigError";
    this.field = field;
  }
}

/**
 * The peer is unknown, not connected, or its id is malformed.
 *
 * @example
 * ```ts
 * import { PeerNotFoundError } from "@avi/p2p";
 * console.log(new PeerNotFoundError("Peer 12D3... is not connected").name);
 * ```
 */
export class PeerNotFoundError extends AviP2pError {
  /**
   * Creates the error.
   *
   * @param message What was looked for.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PeerNotFoundError";
  }
}

/**
 * A peer id or multiaddr could not be parsed.
 *
 * @example
 * ```ts
 * import { InvalidAddressError } from "@avi/p2p";
 * console.log(new InvalidAddressError("bad multiaddr").name);
 * ```
 */
export class InvalidAddressError extends AviP2pError {
  /**
   * Creates the error.
   *
   * @param message What could not be parsed.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidAddressError";
  }
}

/**
 * A topic is empty, too long, or otherwise not allowed.
 *
 * @example
 * ```ts
 * import { InvalidTopicError } from "@avi/p2p";
 * console.log(new InvalidTopicError("Topic must not be empty").name);
 * ```
 */
export class InvalidTopicError extends AviP2pError {
  /**
   * Creates the error.
   *
   * @param message Why the topic is refused.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidTopicError";
  }
}

/**
 * A payload, patch or frame is larger than the documented limit.
 *
 * @example
 * ```ts
 * import { TooLargeError } from "@avi/p2p";
 * const e = new TooLargeError("message", 2_000_000, 1_048_576);
 * console.log(e.size, e.limit);
 * ```
 */
export class TooLargeError extends AviP2pError {
  /** The size that was offered, in bytes. */
  readonly size: number;
  /** The limit, in bytes. */
  readonly limit: number;
  /**
   * Creates the error.
   *
   * @param what What was too large ("message", "patch", ...).
   * @param size Its size in bytes.
   * @param limit The limit in bytes.
   */
  constructor(what: string, size: number, limit: number) {
    super(`The ${what} is ${size} bytes; the limit is ${limit} bytes`);
    this.name = "TooLargeError";
    this.size = size;
    this.limit = limit;
  }
}

/**
 * `unsubscribe` was called for a topic the node is not subscribed to.
 *
 * @example
 * ```ts
 * import { NotSubscribedError } from "@avi/p2p";
 * console.log(new NotSubscribedError("home/lights").message);
 * ```
 */
export class NotSubscribedError extends AviP2pError {
  /**
   * Creates the error.
   *
   * @param topic The topic.
   */
  constructor(topic: string) {
    super(`Not subscribed to topic "${topic}"`);
    this.name = "NotSubscribedError";
  }
}

/**
 * A publish reached no peer, or the network refused an operation.
 *
 * @example
 * ```ts
 * import { NetworkError } from "@avi/p2p";
 * console.log(new NetworkError("No peer subscribed to home/lights").name);
 * ```
 */
export class NetworkError extends AviP2pError {
  /**
   * Creates the error.
   *
   * @param message What failed.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NetworkError";
  }
}

/**
 * A limit (`maxPeers`, `maxStreams`, a queue) refused the operation.
 *
 * @example
 * ```ts
 * import { LimitExceededError } from "@avi/p2p";
 * console.log(new LimitExceededError("maxStreams (5) reached").name);
 * ```
 */
export class LimitExceededError extends AviP2pError {
  /**
   * Creates the error.
   *
   * @param message Which limit, and its value.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "LimitExceededError";
  }
}

/**
 * No stream with that id exists on this node (or it belongs to another peer).
 *
 * @example
 * ```ts
 * import { StreamNotFoundError } from "@avi/p2p";
 * console.log(new StreamNotFoundError("s-1").message);
 * ```
 */
export class StreamNotFoundError extends AviP2pError {
  /**
   * Creates the error.
   *
   * @param streamId The unknown stream id.
   */
  constructor(streamId: string) {
    super(`No stream with id "${streamId}"`);
    this.name = "StreamNotFoundError";
  }
}

/**
 * A stream request was rejected by the peer or timed out.
 *
 * @example
 * ```ts
 * import { StreamRejectedError } from "@avi/p2p";
 * console.log(new StreamRejectedError("busy").reason);
 * ```
 */
export class StreamRejectedError extends AviP2pError {
  /** The reason the peer gave, or "timeout". */
  readonly reason: string;
  /**
   * Creates the error.
   *
   * @param reason The peer's reason.
   */
  constructor(reason: string) {
    super(`Stream rejected: ${reason}`);
    this.name = "StreamRejectedError";
    this.reason = reason;
  }
}

/**
 * A context path, patch or document is invalid.
 *
 * @example
 * ```ts
 * import { InvalidPathError } from "@avi/p2p";
 * console.log(new InvalidPathError("Empty path segment in a..b").name);
 * ```
 */
export class InvalidPathError extends AviP2pError {
  /**
   * Creates the error.
   *
   * @param message What is wrong with the path.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "InvalidPathError";
  }
}

/**
 * A Deno API this feature needs is missing: the program was started without
 * the unstable flag it requires (e.g. `--unstable-net` for UDP).
 *
 * @example
 * ```ts
 * import { UnstableApiError } from "@avi/p2p";
 * console.log(new UnstableApiError("Deno.listenDatagram", "--unstable-net").message);
 * ```
 */
export class UnstableApiError extends AviP2pError {
  /** The flag to add. */
  readonly flag: string;
  /**
   * Creates the error.
   *
   * @param api The missing API, e.g. `Deno.listenDatagram`.
   * @param flag The flag that enables it, e.g. `--unstable-net`.
   */
  constructor(api: string, flag: string) {
    super(
      `${api} is not available: run Deno with ${flag} (or list it under "unstable" in deno.json)`,
    );
    this.name = "UnstableApiError";
    this.flag = flag;
  }
}
