import assert from "node:assert/strict";

Deno.test("examples/audio_chat.ts calls both ways and prints the statistics", async () => {
  const deno = Deno.execPath();
  const out = await new Deno.Command(deno, {
    args: [
      "run",
      "-P=node",
      "--config",
      new URL("../deno.json", import.meta.url).pathname,
      new URL("../examples/audio_chat.ts", import.meta.url).pathname,
      "--seconds",
      "2",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.match(text, /call up \(realtime\)/);
  assert.match(text, /\[1 s\]/);
  const heard = text.match(
    /alice heard (\d+) frames, bob heard (\d+) frames \((\d+) sent each way\)/,
  );
  assert.ok(heard, text);
  assert.equal(heard[3], "100");
  // every frame sent was heard (a loopback call loses nothing)
  assert.equal(heard[1], "100");
  assert.equal(heard[2], "100");
});
