// The library logs through LogTape under the `avi` category, and only when
// the application configures LogTape (real nodes on 127.0.0.1).
import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { shutdownAll, startNode } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";

Deno.test("library logs: avi.mesh records peers when the application configures LogTape", async () => {
  const records: LogRecord[] = [];
  await configure({
    sinks: { memory: (r: LogRecord) => records.push(r) },
    loggers: [
      { category: ["avi"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: [] },
    ],
  });
  const a = await startNode({ nodeName: "a", onWarning: undefined });
  const b = await startNode({
    nodeName: "b",
    bootstrapPeers: [a.listenAddresses[0]],
  });
  try {
    await until(
      () =>
        records.some((r) =>
          r.category.join(".") === "avi.mesh" &&
          r.properties.peerId === b.peerId
        ),
      20_000,
      "a's log of b",
    );
    const r = records.find((r) => r.properties.peerId === b.peerId)!;
    assert.equal(r.level, "debug");
  } finally {
    await shutdownAll(a, b);
    await reset();
  }
});
