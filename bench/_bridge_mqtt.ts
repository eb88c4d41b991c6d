/**
 * The MQTT reference path for the bridge benchmark: an `aedes` broker and
 * `mqtt` clients on 127.0.0.1, TCP no-delay set on every hop (broker side of
 * every connection and every client socket).
 *
 * @module
 */

import net from "node:net";
import { Aedes } from "aedes";
import mqtt from "mqtt";

/** A broker, a subscriber and `devices` publishers. */
export interface MqttRig {
  port: number;
  publishers: mqtt.MqttClient[];
  subscriber: mqtt.MqttClient;
  onMessage(fn: (topic: string, payload: Uint8Array) => void): void;
  close(): Promise<void>;
}

async function client(port: number, id: string): Promise<mqtt.MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: id,
    reconnectPeriod: 0,
  });
  // deno-lint-ignore no-explicit-any
  (c.stream as any).setNoDelay?.(true);
  return c;
}

/**
 * Start a broker with a subscriber on `device/+/sensor/#` and `devices`
 * publisher clients.
 */
export async function startMqttRig(devices: number): Promise<MqttRig> {
  const broker = await Aedes.createBroker();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sock.setNoDelay(true);
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    broker.handle(sock);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const subscriber = await client(port, "bench-sub");
  await subscriber.subscribeAsync("device/+/sensor/#", { qos: 1 });
  const publishers: mqtt.MqttClient[] = [];
  for (let i = 0; i < devices; i++) {
    publishers.push(await client(port, `bench-dev-${i}`));
  }
  let handler: (topic: string, payload: Uint8Array) => void = () => {};
  subscriber.on("message", (t, p) => handler(t, p));
  return {
    port,
    publishers,
    subscriber,
    onMessage(fn) {
      handler = fn;
    },
    async close() {
      await Promise.all(
        [subscriber, ...publishers].map((c) => c.endAsync(true)),
      );
      await new Promise<void>((r) => broker.close(() => r()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
