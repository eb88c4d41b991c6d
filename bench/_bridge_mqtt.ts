/**
 * The MQTT reference path for the bridge benchmark: an `aedes` broker on
 * 127.0.0.1 with TCP no-delay on the broker side of every connection, and
 * an `mqtt` client with no-delay on its socket.
 *
 * @module
 */

import net from "node:net";
import { Aedes } from "aedes";
import mqtt from "mqtt";

/** A running broker. */
export interface MqttBroker {
  port: number;
  close(): Promise<void>;
}

/** Start a broker on 127.0.0.1 (a random port). */
export async function startMqttBroker(): Promise<MqttBroker> {
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
  return {
    port,
    async close() {
      await new Promise<void>((r) => broker.close(() => r()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** An `mqtt` client of the broker at `port`, TCP no-delay on its socket. */
export async function mqttClient(
  port: number,
  id: string,
): Promise<mqtt.MqttClient> {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
    clientId: id,
    reconnectPeriod: 0,
  });
  // deno-lint-ignore no-explicit-any
  (c.stream as any).setNoDelay?.(true);
  return c;
}
