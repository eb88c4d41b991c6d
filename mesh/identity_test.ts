import assert from "node:assert/strict";
import { IDENTITY_FILE, loadIdentity } from "./identity.ts";
import { peerIdFromPrivateKey } from "@libp2p/peer-id";

Deno.test("loadIdentity() persists the key so a second load gives the same peer id", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const warnings: string[] = [];
    const a = await loadIdentity(`${dir}/node`, (m) => warnings.push(m));
    const b = await loadIdentity(`${dir}/node`, (m) => warnings.push(m));
    assert.equal(a.persisted, true);
    assert.equal(
      peerIdFromPrivateKey(a.privateKey).toString(),
      peerIdFromPrivateKey(b.privateKey).toString(),
    );
    assert.equal(a.privateKey.type, "Ed25519");
    assert.deepEqual(warnings, []);
    const info = await Deno.stat(`${dir}/node/${IDENTITY_FILE}`);
    assert.equal(info.mode! & 0o077, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadIdentity() warns once and runs ephemeral when dataDir is not writable", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/file`, "x");
    const warnings: string[] = [];
    // a path under a regular file can never be created
    const a = await loadIdentity(`${dir}/file/sub`, (m) => warnings.push(m));
    assert.equal(a.persisted, false);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /ephemeral/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadIdentity() never overwrites a corrupt key file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/${IDENTITY_FILE}`, new Uint8Array([1, 2, 3]));
    const warnings: string[] = [];
    const a = await loadIdentity(dir, (m) => warnings.push(m));
    assert.equal(a.persisted, false);
    assert.equal(warnings.length, 1);
    assert.deepEqual(
      await Deno.readFile(`${dir}/${IDENTITY_FILE}`),
      new Uint8Array([1, 2, 3]),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadIdentity(null) is ephemeral without a warning", async () => {
  const warnings: string[] = [];
  const a = await loadIdentity(null, (m) => warnings.push(m));
  const b = await loadIdentity(null, (m) => warnings.push(m));
  assert.notEqual(
    peerIdFromPrivateKey(a.privateKey).toString(),
    peerIdFromPrivateKey(b.privateKey).toString(),
  );
  assert.deepEqual(warnings, []);
});
