/**
 * A method of a class the package does not export, replaced on the class
 * found at a node's first connection (internal): the TCP connection
 * (`maConn`, mesh/_tcp_write.ts) and the Yamux muxer (`muxer`,
 * mesh/_yamux_header.ts).
 *
 * @module
 */

/** What the adjustment uses of a libp2p node. */
export interface NodeEvents {
  getConnections(): unknown[];
  addEventListener(
    type: "connection:open",
    fn: (e: CustomEvent<unknown>) => void,
  ): void;
  removeEventListener(
    type: "connection:open",
    fn: (e: CustomEvent<unknown>) => void,
  ): void;
}

// deno-lint-ignore no-explicit-any
type Method = (this: any, ...args: any[]) => any;

/** Where the class is, which method, and what replaces it. */
export interface ConnectionClassInit {
  /** The connection's field holding an instance of the class. */
  field: "maConn" | "muxer";
  /** The class's name. */
  className: string;
  /** The method replaced. */
  method: string;
  /** What replaces it. */
  replacement: Method;
  /** Whether the class still has what the replacement uses (else left alone). */
  fits(proto: Record<string, unknown>, instance: object): boolean;
}

/** One replaced method of a class found on a connection. */
export class ConnectionClassMethod {
  readonly #o: ConnectionClassInit;
  #packageOwn: { proto: Record<string, unknown>; fn: Method } | undefined;

  /** @param init Where the class is, which method, what replaces it. */
  constructor(init: ConnectionClassInit) {
    this.#o = init;
  }

  /** The package's own method, once replaced. */
  get packageOwn(): Method | undefined {
    return this.#packageOwn?.fn;
  }

  /** The class's prototype on `connection`, if it is the one named. */
  #protoOf(
    connection: unknown,
  ): { proto: Record<string, unknown>; instance: object } | undefined {
    const instance = (connection as Record<string, object | undefined>)[
      this.#o.field
    ];
    if (instance === undefined) return undefined;
    const proto = Object.getPrototypeOf(instance) as Record<string, unknown>;
    return (proto.constructor as { name: string }).name === this.#o.className
      ? { proto, instance }
      : undefined;
  }

  /** Replaces the method if the connection has the class: whether the class is settled. */
  #patchClassOf(connection: unknown): boolean {
    const found = this.#protoOf(connection);
    if (found === undefined) return false;
    const { proto, instance } = found;
    const { method, replacement } = this.#o;
    const fn = proto[method];
    if (
      fn !== replacement && typeof fn === "function" &&
      this.#o.fits(proto, instance)
    ) {
      this.#packageOwn = { proto, fn: fn as Method };
      proto[method] = replacement;
    }
    return true;
  }

  /**
   * Applies the replacement at the node's first connection (already open,
   * or when it opens).
   */
  patch(node: NodeEvents): void {
    for (const c of node.getConnections()) if (this.#patchClassOf(c)) return;
    const onOpen = (e: CustomEvent<unknown>) => {
      if (this.#patchClassOf(e.detail)) {
        node.removeEventListener("connection:open", onOpen);
      }
    };
    node.addEventListener("connection:open", onOpen);
  }

  /** Puts the package's method back (the hop bench's "before"); it stays until the process ends. */
  undo(): void {
    const own = this.#packageOwn;
    if (own) own.proto[this.#o.method] = own.fn;
  }

  /** Whether the connection's class has the replacement (for tests). */
  has(connection: unknown): boolean {
    return this.#protoOf(connection)?.proto[this.#o.method] ===
      this.#o.replacement;
  }
}
