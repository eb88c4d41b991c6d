/**
 * XS entry for the harness's own test: sends datagrams through the shim's
 * socket and collects what comes back, using the shim's timers.
 *
 * @module
 */
import {
  hostLog,
  hostNow,
  hostRandom,
  installXsRuntime,
  xsClearTimer,
  xsSetTimeout,
  xsSocket,
} from "./xs_runtime.ts";

const received: { host: string; port: number; bytes: number[] }[] = [];
xsSocket.onDatagram = (payload, host, port) => {
  received.push({ host, port, bytes: Array.from(payload) });
};

installXsRuntime({
  /** Sends `bytes` to host:port and resolves with the first echo. */
  echo: (host: string, port: number, bytes: number[]) =>
    new Promise((resolve, reject) => {
      const before = received.length;
      const start = hostNow();
      const poll = () => {
        if (received.length > before) return resolve(received[before]);
        if (hostNow() - start > 5000) return reject(new Error("no echo"));
        xsSetTimeout(poll, 5);
      };
      xsSocket.send(new Uint8Array(bytes), host, port);
      poll();
    }),
  /** Resolves after `ms` of host time, counting timer firings. */
  sleep: (ms: number) =>
    new Promise((resolve) => {
      const t0 = hostNow();
      const cancelled = xsSetTimeout(() => resolve("cancelled fired"), ms / 2);
      xsClearTimer(cancelled);
      xsSetTimeout(() => resolve(hostNow() - t0), ms);
    }),
  environment: () => ({
    textEncoder: typeof (globalThis as Record<string, unknown>).TextEncoder,
    textDecoder: typeof (globalThis as Record<string, unknown>).TextDecoder,
    localPort: xsSocket.localPort(),
    random: Array.from(hostRandom(new Uint8Array(16))),
  }),
  log: (s: string) => hostLog(s),
  throwInTimer: () => {
    xsSetTimeout(() => {
      throw new Error("boom in timer");
    }, 0);
  },
  received: () => received.length,
});
