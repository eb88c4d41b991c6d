import assert from "node:assert/strict";
import fc from "fast-check";
import {
  decodeFrame,
  encodeCookie,
  encodeGwInfo,
  encodeHello,
  encodeReject,
  encodeSearchGw,
} from "./frames.ts";
import { ErrorCode } from "./constants.ts";
import { FrameDecodeError, FrameEncodeError } from "./errors.ts";

const b = (n: number) => fc.uint8Array({ minLength: n, maxLength: n });

Deno.test("decodeFrame() round trips Hello, Cookie, Reject, SearchGw and GwInfo", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      b(16),
      fc.integer({ min: 256, max: 0xffff }),
      b(16),
      b(16),
      (deviceId, clientNonce, maxFrame, cookie, auth) => {
        const f = decodeFrame(
          encodeHello({ deviceId, clientNonce, maxFrame, cookie, auth }),
        );
        assert.deepStrictEqual(f, {
          kind: "hello",
          deviceId,
          clientNonce,
          maxFrame,
          cookie,
          auth,
        });
      },
    ),
  );
  fc.assert(fc.property(b(16), (cookie) => {
    assert.deepStrictEqual(decodeFrame(encodeCookie(cookie)), {
      kind: "cookie",
      cookie,
    });
  }));
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (code, sessionId) => {
        assert.deepStrictEqual(decodeFrame(encodeReject(code, sessionId)), {
          kind: "reject",
          code,
          sessionId,
        });
      },
    ),
  );
  fc.assert(fc.property(b(8), (nonce) => {
    assert.deepStrictEqual(decodeFrame(encodeSearchGw(nonce)), {
      kind: "searchGw",
      nonce,
    });
  }));
  fc.assert(
    fc.property(
      b(8),
      fc.integer({ min: 0, max: 0xffff }),
      fc.integer({ min: 0, max: 0xffffffff }),
      (nonce, port, gatewayId) => {
        assert.deepStrictEqual(
          decodeFrame(encodeGwInfo({ nonce, port, gatewayId })),
          {
            kind: "gwInfo",
            nonce,
            port,
            gatewayId,
          },
        );
      },
    ),
  );
});

Deno.test("decodeFrame() refuses another version with UNSUPPORTED_VERSION", () => {
  const r = encodeReject(1, 0);
  r[0] = 0;
  assert.throws(
    () => decodeFrame(r),
    (e) =>
      e instanceof FrameDecodeError && e.code === ErrorCode.UNSUPPORTED_VERSION,
  );
  r[0] = 2;
  assert.throws(
    () => decodeFrame(r),
    (e) =>
      e instanceof FrameDecodeError && e.code === ErrorCode.UNSUPPORTED_VERSION,
  );
});

Deno.test("decodeFrame() refuses a datagram above maxFrame with TOO_LARGE", () => {
  const big = new Uint8Array(1025);
  big[0] = 1;
  big[1] = 0x10;
  assert.throws(
    () => decodeFrame(big),
    (e) => e instanceof FrameDecodeError && e.code === ErrorCode.TOO_LARGE,
  );
  big[2] = 1;
  big[9] = 1;
  assert.equal(decodeFrame(big, { maxFrame: 1472 }).kind, "sealed");
});

Deno.test("decodeFrame() refuses truncated and extended fixed frames, zero ids and unknown kinds", () => {
  const frames = [
    encodeHello({
      deviceId: 1,
      clientNonce: new Uint8Array(16),
      maxFrame: 1024,
      cookie: new Uint8Array(16),
      auth: new Uint8Array(16),
    }),
    encodeCookie(new Uint8Array(16)),
    encodeReject(2, 9),
    encodeSearchGw(new Uint8Array(8)),
    encodeGwInfo({ nonce: new Uint8Array(8), port: 1, gatewayId: 1 }),
  ];
  for (const f of frames) {
    for (let n = 0; n < f.length; n++) {
      assert.throws(
        () => decodeFrame(f.subarray(0, n)),
        (e) => e instanceof FrameDecodeError && e.code === ErrorCode.MALFORMED,
      );
    }
    const longer = new Uint8Array(f.length + 1);
    longer.set(f);
    assert.throws(() => decodeFrame(longer), FrameDecodeError);
  }
  const sealed = new Uint8Array(40);
  sealed[0] = 1;
  sealed[1] = 0x10;
  assert.throws(() => decodeFrame(sealed), FrameDecodeError); // session 0, seq 0
  assert.throws(
    () => decodeFrame(new Uint8Array([1, 0x7f, 0, 0, 0, 0, 0])),
    FrameDecodeError,
  );
  // Hello with maxFrame below 256.
  const h = frames[0].slice();
  h[26] = 0;
  h[27] = 255;
  assert.throws(() => decodeFrame(h), FrameDecodeError);
});

Deno.test("encodeHello() refuses bad fields", () => {
  const z = new Uint8Array(16);
  assert.throws(
    () =>
      encodeHello({
        deviceId: -1,
        clientNonce: z,
        maxFrame: 1024,
        cookie: z,
        auth: z,
      }),
    FrameEncodeError,
  );
  assert.throws(
    () =>
      encodeHello({
        deviceId: 2 ** 53,
        clientNonce: z,
        maxFrame: 1024,
        cookie: z,
        auth: z,
      }),
    FrameEncodeError,
  );
  assert.throws(
    () =>
      encodeHello({
        deviceId: 1,
        clientNonce: new Uint8Array(3),
        maxFrame: 1024,
        cookie: z,
        auth: z,
      }),
    FrameEncodeError,
  );
  assert.throws(
    () =>
      encodeHello({
        deviceId: 1,
        clientNonce: z,
        maxFrame: 100,
        cookie: z,
        auth: z,
      }),
    FrameEncodeError,
  );
});
