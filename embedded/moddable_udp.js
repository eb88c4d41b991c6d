// @ts-self-types="./moddable_udp.d.ts"
/**
 * The Moddable adapter of the device client: a DeviceSocket on ECMA-419
 * `embedded:io/socket/udp` (constructor with `onReadable`, `read()`,
 * `write(buffer, address, port)`).
 *
 * @module
 */

/**
 * Opens a UDP socket for AviEmbedded on Moddable.
 *
 * @param {{ UDP?: any, port?: number, address?: string }} [options]
 *   `UDP`: the class from `import UDP from "embedded:io/socket/udp"`
 *   (default: `device.network.udp.io` of the host provider).
 *   `port`: local port (default any).
 * @returns {import("./types.ts").DeviceSocket}
 */
export function createModdableUdpSocket(options = {}) {
  const g = globalThis;
  const UDP = options.UDP ??
    (g.device && g.device.network && g.device.network.udp &&
      g.device.network.udp.io);
  if (typeof UDP !== "function") {
    throw new Error(
      'No ECMA-419 UDP class: pass options.UDP (import UDP from "embedded:io/socket/udp")',
    );
  }
  let receiver = null;
  const init = {
    onReadable(count) {
      // `count` datagrams are ready; read each (an ArrayBuffer carrying
      // `address` and `port`) and hand it to the client.
      for (let i = 0; i < count; i++) {
        const packet = this.read();
        if (!packet) break;
        if (receiver) {
          try {
            receiver(new Uint8Array(packet), packet.address, packet.port);
          } catch {
            // never let an exception escape into the host's callback
          }
        }
      }
    },
  };
  if (options.port !== undefined) init.port = options.port;
  if (options.address !== undefined) init.address = options.address;
  const udp = new UDP(init);
  let open = true;
  return {
    send(data, address, port) {
      if (!open) return;
      // write() takes an ArrayBuffer (or a view, depending on the host): give
      // it an exact copy so the client's scratch buffer can be reused.
      udp.write(data.slice().buffer, address, port);
    },
    setReceiver(fn) {
      receiver = fn;
    },
    close() {
      if (!open) return;
      open = false;
      udp.close();
    },
  };
}
