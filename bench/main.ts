/**
 * `deno task bench`: runs every benchmark of the project in turn and prints
 * its figures. Each area's benchmark lives in `bench/<area>.ts` and exports
 * `bench()`; pass area names to run only those (`deno task bench pubsub`).
 *
 * @module
 */

const AREAS = [
  "protocol",
  "context",
  "pubsub",
  "hop",
  "streams",
  "bridge",
  "xs",
  "c",
  "cli",
  "mqtt",
  "dashboard",
  "release",
];

const wanted = Deno.args.length > 0 ? Deno.args : AREAS;
for (const area of wanted) {
  if (!AREAS.includes(area)) {
    console.error(
      `Unknown benchmark area "${area}"; known: ${AREAS.join(", ")}`,
    );
    Deno.exit(2);
  }
  console.log(`\n=== ${area} ===`);
  const started = performance.now();
  try {
    const mod = await import(`./${area}.ts`);
    await mod.bench();
  } catch (error) {
    console.error(`benchmark ${area} failed:`, error);
  }
  console.log(
    `(${area}: ${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
}
// A stopped js-libp2p node can keep the process alive: exit explicitly.
Deno.exit(0);
