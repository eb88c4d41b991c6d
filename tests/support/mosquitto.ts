/**
 * A real MQTT broker for the MQTT bridge's tests: Debian's `mosquitto` on
 * 127.0.0.1, a free port, a temporary config (optionally with a password
 * file and a TLS listener whose self-signed certificate `openssl` makes),
 * no persistence (a restart forgets every retained message); and the
 * broker's own command-line clients, `mosquitto_sub` and `mosquitto_pub`.
 *
 * @module
 */

import { until } from "./wait.ts";

const MOSQUITTO = "/usr/sbin/mosquitto";

/** A free TCP port on 127.0.0.1 (bound, then released). */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const td = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")}: ${td.decode(out.stderr)}${
        td.decode(out.stdout)
      }`,
    );
  }
  return td.decode(out.stdout);
}

/** Options of {@linkcode Mosquitto.start}. */
export interface MosquittoOptions {
  /** Users and their passwords; with them, anonymous clients are refused. */
  users?: Record<string, string>;
  /** Also listen with TLS (a self-signed certificate for 127.0.0.1). */
  tls?: boolean;
}

/** A running (or stopped) broker. */
export class Mosquitto {
  /** The plain listener's port. */
  readonly port: number;
  /** The TLS listener's port (0 without TLS). */
  readonly tlsPort: number;
  /** The CA certificate clients trust for the TLS listener (PEM). */
  readonly caPem: string;
  readonly #dir: string;
  readonly #config: string;
  #child: Deno.ChildProcess | undefined;

  private constructor(
    dir: string,
    config: string,
    port: number,
    tlsPort: number,
    caPem: string,
  ) {
    this.#dir = dir;
    this.#config = config;
    this.port = port;
    this.tlsPort = tlsPort;
    this.caPem = caPem;
  }

  /** The plain listener's URL. */
  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Writes a config in a temporary directory and starts the broker. */
  static async start(options: MosquittoOptions = {}): Promise<Mosquitto> {
    const dir = await Deno.makeTempDir({ prefix: "avi-mosquitto-" });
    const port = freePort();
    const lines = [
      "persistence false",
      "log_dest stderr",
      "log_type error",
      "log_type warning",
      "per_listener_settings false",
      "set_tcp_nodelay true",
      `allow_anonymous ${options.users ? "false" : "true"}`,
    ];
    // Started as root, mosquitto becomes the user "mosquitto", who cannot
    // read the temporary directory: stay root (as another user it stays
    // that user anyway).
    if (Deno.uid() === 0) lines.push("user root");
    if (options.users) {
      const file = `${dir}/passwd`;
      await Deno.writeTextFile(file, "");
      for (const [u, p] of Object.entries(options.users)) {
        await run("mosquitto_passwd", ["-b", file, u, p]);
      }
      await Deno.chmod(file, 0o600);
      lines.push(`password_file ${file}`);
    }
    lines.push(`listener ${port} 127.0.0.1`);
    let tlsPort = 0;
    let caPem = "";
    if (options.tls) {
      tlsPort = freePort();
      await run("openssl", [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        `${dir}/key.pem`,
        "-out",
        `${dir}/cert.pem`,
        "-days",
        "2",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1,DNS:localhost",
      ]);
      caPem = await Deno.readTextFile(`${dir}/cert.pem`);
      lines.push(
        `listener ${tlsPort} 127.0.0.1`,
        `certfile ${dir}/cert.pem`,
        `keyfile ${dir}/key.pem`,
      );
    }
    const config = `${dir}/mosquitto.conf`;
    await Deno.writeTextFile(config, lines.join("\n") + "\n");
    const m = new Mosquitto(dir, config, port, tlsPort, caPem);
    await m.restart();
    return m;
  }

  /** Whether the broker runs now. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the broker (again), on the same ports; resolves once it accepts connections. */
  async restart(): Promise<void> {
    if (this.#child) return;
    const child = new Deno.Command(MOSQUITTO, {
      args: ["-c", this.#config],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.#child = child;
    // Keep its (rare) errors for the failure message.
    const errors: string[] = [];
    (async () => {
      for await (
        const c of child.stderr.pipeThrough(new TextDecoderStream())
      ) errors.push(c);
    })().catch(() => {});
    let exited = false;
    child.status.then(() => (exited = true));
    await until(
      async () => {
        if (exited) {
          throw new Error(`mosquitto exited: ${errors.join("")}`);
        }
        try {
          const c = await Deno.connect({
            hostname: "127.0.0.1",
            port: this.port,
          });
          c.close();
          return true;
        } catch {
          return false;
        }
      },
      10_000,
      "mosquitto to listen",
    );
  }

  /** Stops the broker (SIGTERM), waiting for it to exit. */
  async stop(): Promise<void> {
    const c = this.#child;
    if (!c) return;
    this.#child = undefined;
    try {
      c.kill("SIGTERM");
    } catch { /* gone */ }
    await c.status;
  }

  /** Stops it and removes its directory. */
  async close(): Promise<void> {
    await this.stop();
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }

  /** `mosquitto_pub` of one message (`-r` when retained). */
  async pub(
    topic: string,
    message: string,
    opts: { retain?: boolean; qos?: 0 | 1; user?: [string, string] } = {},
  ): Promise<void> {
    const args = [
      "-h",
      "127.0.0.1",
      "-p",
      String(this.port),
      "-t",
      topic,
      "-m",
      message,
      "-q",
      String(opts.qos ?? 1),
    ];
    if (opts.retain) args.push("-r");
    if (opts.user) args.push("-u", opts.user[0], "-P", opts.user[1]);
    await run("mosquitto_pub", args);
  }

  /**
   * A `mosquitto_sub` on `topics`, ready (its subscription made) when the
   * promise resolves.
   */
  async sub(
    topics: string[],
    opts: { user?: [string, string] } = {},
  ): Promise<MosquittoSub> {
    const s = new MosquittoSub(this.port, topics, opts.user);
    await s.ready((t, m) => this.pub(t, m, { qos: 0, user: opts.user }));
    return s;
  }
}

/** A message `mosquitto_sub` printed. */
export interface SubMessage {
  /** Whether the broker delivered it as a retained message. */
  retained: boolean;
  topic: string;
  payload: string;
}

/** A running `mosquitto_sub`, its messages collected as they come. */
export class MosquittoSub {
  /** Every message, in order (the readiness probes excluded). */
  readonly messages: SubMessage[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #probe = `avi-test-probe/${crypto.randomUUID()}`;
  #probed = false;
  readonly #reading: Promise<void>;

  constructor(port: number, topics: string[], user?: [string, string]) {
    const args = [
      "-h",
      "127.0.0.1",
      "-p",
      String(port),
      "-q",
      "1",
      "-F",
      "%r\\t%t\\t%p",
    ];
    if (user) args.push("-u", user[0], "-P", user[1]);
    for (const t of [...topics, this.#probe]) args.push("-t", t);
    const child = new Deno.Command("mosquitto_sub", {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#child = child;
    this.#reading = (async () => {
      let buf = "";
      for await (
        const chunk of child.stdout.pipeThrough(new TextDecoderStream())
      ) {
        buf += chunk;
        let at: number;
        while ((at = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, at);
          buf = buf.slice(at + 1);
          const [r, topic, ...rest] = line.split("\t");
          if (topic === this.#probe) {
            this.#probed = true;
            continue;
          }
          this.messages.push({
            retained: r === "1",
            topic,
            payload: rest.join("\t"),
          });
        }
      }
    })();
  }

  /** Publishes probes until one comes back: the subscription is in place. */
  async ready(
    publish: (topic: string, message: string) => Promise<void>,
  ): Promise<void> {
    await until(
      async () => {
        if (!this.#probed) await publish(this.#probe, "probe");
        await new Promise((r) => setTimeout(r, 50));
        return this.#probed;
      },
      10_000,
      "mosquitto_sub to subscribe",
    );
  }

  /** The messages on a topic, in order. */
  on(topic: string): SubMessage[] {
    return this.messages.filter((m) => m.topic === topic);
  }

  /** The last message on a topic. */
  last(topic: string): SubMessage | undefined {
    const all = this.on(topic);
    return all[all.length - 1];
  }

  /** Waits until a message matches. */
  async waitFor(
    match: (m: SubMessage) => boolean,
    what: string,
    ms = 20_000,
  ): Promise<SubMessage> {
    await until(() => this.messages.some(match), ms, what);
    return this.messages.find(match)!;
  }

  /** Stops it. */
  async close(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch { /* gone */ }
    await this.#child.status;
    await this.#reading.catch(() => {});
  }
}
