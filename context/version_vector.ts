/**
 * Version vectors: for each writer, how many of its changes a replica has
 * seen (all of them, from 1 up to that number).
 *
 * @module
 */

/**
 * A version vector: writer id to the highest sequence number `n` such that
 * changes 1..n of that writer have all been seen. Missing writers count as 0.
 */
export type VersionVector = Readonly<Record<string, number>>;

/** How two version vectors relate. */
export type VersionOrder = "equal" | "before" | "after" | "concurrent";

/**
 * Compares two version vectors.
 *
 * @returns `"before"` when `a` has seen strictly less than `b`, `"after"`
 * when strictly more, `"equal"`, or `"concurrent"` when each has seen a
 * change the other has not.
 *
 * @example
 * ```ts
 * import { compareVersions } from "@avi/p2p/context";
 * console.log(compareVersions({ A: 2 }, { A: 1, B: 1 })); // "concurrent"
 * console.log(compareVersions({ A: 1 }, { A: 2 })); // "before"
 * ```
 */
export function compareVersions(
  a: VersionVector,
  b: VersionVector,
): VersionOrder {
  let less = false;
  let more = false;
  for (const w of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[w] ?? 0;
    const y = b[w] ?? 0;
    if (x < y) less = true;
    if (x > y) more = true;
  }
  if (less && more) return "concurrent";
  if (less) return "before";
  if (more) return "after";
  return "equal";
}

/**
 * Does `a` cover every change `b` has seen?
 *
 * @example
 * ```ts
 * import { dominates } from "@avi/p2p/context";
 * console.log(dominates({ A: 3, B: 1 }, { A: 2 })); // true
 * ```
 */
export function dominates(a: VersionVector, b: VersionVector): boolean {
  for (const w in b) if ((a[w] ?? 0) < b[w]) return false;
  return true;
}

/**
 * The set of (writer, seq) a replica has seen: a contiguous prefix per
 * writer (the version vector) plus the out-of-order ones above it.
 * Internal to the context; exported for tests.
 */
export class DotSet {
  #prefix = new Map<string, number>();
  #extra = new Map<string, Set<number>>();

  /** Has (writer, seq) been seen? */
  has(writer: string, seq: number): boolean {
    if (seq <= (this.#prefix.get(writer) ?? 0)) return true;
    return this.#extra.get(writer)?.has(seq) ?? false;
  }

  /** The contiguous prefix for `writer`. */
  get(writer: string): number {
    return this.#prefix.get(writer) ?? 0;
  }

  /** Records (writer, seq) as seen. */
  add(writer: string, seq: number): void {
    const n = this.#prefix.get(writer) ?? 0;
    if (seq <= n) return;
    if (seq === n + 1) {
      this.#advance(writer, seq);
      return;
    }
    let extra = this.#extra.get(writer);
    if (!extra) this.#extra.set(writer, extra = new Set());
    extra.add(seq);
  }

  /**
   * Records that every change of `writer` up to `to` has been seen, provided
   * the changes up to `from` already were (a range sent by a peer that had
   * seen them all). @returns whether the range was joined.
   */
  joinRange(writer: string, from: number, to: number): boolean {
    const n = this.#prefix.get(writer) ?? 0;
    if (n < from) return false;
    if (to > n) this.#advance(writer, to);
    return true;
  }

  #advance(writer: string, to: number): void {
    let n = to;
    const extra = this.#extra.get(writer);
    if (extra) {
      for (const s of extra) if (s <= n) extra.delete(s);
      while (extra.has(n + 1)) extra.delete(++n);
      if (extra.size === 0) this.#extra.delete(writer);
    }
    this.#prefix.set(writer, n);
  }

  /** Has `writer` changes seen above its contiguous prefix? */
  hasGaps(writer: string): boolean {
    return this.#extra.has(writer);
  }

  /** Forgets everything seen of `writer`. */
  forget(writer: string): void {
    this.#prefix.delete(writer);
    this.#extra.delete(writer);
  }

  /** The version vector (the contiguous prefixes). */
  vector(): Record<string, number> {
    return Object.fromEntries(this.#prefix);
  }

  /** Serialisable form: [writer, prefix, extras[]][]. */
  toJSON(): [string, number, number[]][] {
    const writers = new Set([...this.#prefix.keys(), ...this.#extra.keys()]);
    return [...writers].map((
      w,
    ) => [w, this.get(w), [...(this.#extra.get(w) ?? [])]]);
  }

  /** Restores the serialisable form. */
  static from(rows: [string, number, number[]][]): DotSet {
    const set = new DotSet();
    for (const [w, n, extra] of rows) {
      if (n > 0) set.#prefix.set(w, n);
      for (const s of extra) set.add(w, s);
    }
    return set;
  }
}
