/**
 * The device's side of discovery and the handshake (docs/PROTOCOL.md 2.5,
 * 2.6 and 3): the SearchGw nonce, the client nonce and the cookie, and the
 * retransmission of SearchGw and Hello after the configured delays. A
 * cookie is good for 30 s only: after `maxTransmissions` unanswered Hellos
 * the next one goes without it. The connection (`connection.ts`) decides
 * when, and what the answers change.
 *
 * @module
 */

import {
  createHello,
  encodeSearchGw,
  type Frame,
  openWelcome,
} from "../protocol/mod.ts";
import type { AviEmbeddedConfig, ResolvedConfig } from "./config.ts";
import type { EmbeddedStats, Endpoint } from "./types.ts";

/** Discovery and handshake state, made by {@linkcode createHandshake}. */
export interface Handshake {
  /** When the SearchGw or Hello in flight is due again. */
  readonly nextAt: number;
  /** Sends a SearchGw with a new nonce. */
  search(): void;
  /** Sends the SearchGw again. */
  searchAgain(): void;
  /** Tells whether a GwInfo's nonce is the SearchGw's. */
  answers(nonce: Uint8Array): boolean;
  /** Sends a Hello with a new client nonce and no cookie. */
  start(to: Endpoint): void;
  /** Sends the Hello again with the cookie the gateway sent. */
  withCookie(cookie: Uint8Array, to: Endpoint): void;
  /** Sends the Hello again (without its cookie after `maxTransmissions`). */
  again(to: Endpoint): void;
  /** Opens a Welcome: the session, or null if it is not an answer to the Hello. */
  welcome(
    f: Frame & { kind: "welcome" },
    raw: Uint8Array,
  ): ReturnType<typeof openWelcome>;
}

const DEFAULT_DISCOVERY: Endpoint = { address: "239.255.97.118", port: 8888 };

/**
 * No handshake yet.
 * @param cfg The config (identity, key, discovery group).
 * @param r The config resolved.
 * @param delay The delay before the next transmission after `tx` ones.
 * @param send Sends a datagram.
 * @param stats Where retransmissions are counted.
 * @returns The handshake state.
 */
export function createHandshake(
  cfg: AviEmbeddedConfig,
  r: ResolvedConfig,
  delay: (tx: number) => number,
  send: (bytes: Uint8Array, to: Endpoint) => void,
  stats: EmbeddedStats,
): Handshake {
  const { crypto, now, scratch, maxFrame, maxTx } = r;
  const clientNonce = new Uint8Array(16);
  const cookie = new Uint8Array(16);
  const searchNonce = new Uint8Array(8);
  let tx = 0;
  let nextAt = 0;

  // Counts a transmission and sets when the next falls due.
  function count(): void {
    tx++;
    if (tx > 1) stats.retransmissions++;
    nextAt = now() + delay(tx);
  }

  function searchAgain(): void {
    count();
    send(
      encodeSearchGw(searchNonce, scratch),
      cfg.discovery ?? DEFAULT_DISCOVERY,
    );
  }

  function hello(to: Endpoint): void {
    count();
    send(
      createHello(crypto, {
        deviceId: cfg.deviceId,
        key: cfg.key,
        clientNonce,
        maxFrame,
        cookie,
      }, scratch),
      to,
    );
  }

  return {
    get nextAt() {
      return nextAt;
    },
    searchAgain,
    search() {
      crypto.randomBytes(searchNonce);
      tx = 0;
      searchAgain();
    },
    answers(nonce) {
      if (nonce.length !== searchNonce.length) return false;
      for (let i = 0; i < nonce.length; i++) {
        if (nonce[i] !== searchNonce[i]) return false;
      }
      return true;
    },
    start(to) {
      crypto.randomBytes(clientNonce);
      cookie.fill(0);
      tx = 0;
      hello(to);
    },
    withCookie(c, to) {
      cookie.set(c);
      tx = 0;
      hello(to);
    },
    again(to) {
      if (tx >= maxTx) cookie.fill(0);
      hello(to);
    },
    welcome(f, raw) {
      return openWelcome(
        crypto,
        {
          deviceId: cfg.deviceId,
          key: cfg.key,
          clientNonce,
          maxFrame,
        },
        f,
        raw,
      );
    },
  };
}
