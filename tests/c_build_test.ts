/**
 * The C device client's builds and packaging (clients/c), as far as this
 * machine allows:
 *
 * - every C file builds with `-std=c11 -Wall -Wextra -Werror` by gcc and
 *   clang, the headers also as C++ (Arduino sketches are C++);
 * - the Makefile builds the library, the example and the selftest;
 * - the ESP-IDF component: its CMakeLists.txt, run by a stand-in of the
 *   ESP-IDF build (tests/c_client/idf_stub), builds exactly the sources it
 *   registers, with the mbedTLS back end, and the worked-examples selftest
 *   linked against that library passes; its ESP-IDF code paths compile
 *   (ESP_PLATFORM, esp_fill_random); idf_component.yml has its fields;
 * - the Arduino library: library.properties has the fields of the library
 *   specification, the example sketch compiles as C++ against the library
 *   and stand-ins of the Arduino-ESP32 core, and the sources build for it;
 * - the plain CMake build for Linux, and its example (the README's) against
 *   the real gateway: it connects, subscribes and has a sensor reading
 *   acknowledged, which lands in the gateway's shared context.
 */
import assert from "node:assert/strict";
import { EmbeddedBridge } from "../bridge/mod.ts";
import { shutdownAll, startNode } from "./support/mesh_fixture.ts";
import { until } from "./support/wait.ts";
import {
  C_ROOT,
  C_SRC,
  run,
  TEST_PROGRAM,
  WARNINGS,
} from "./c_client/build.ts";

const STUBS = new URL("./c_client/stubs/", import.meta.url).pathname;
const IDF_STUB = new URL("./c_client/idf_stub/", import.meta.url).pathname;
const KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/** Whether a compiler is installed (.ci/run installs clang, not g++). */
async function has(cmd: string): Promise<boolean> {
  try {
    return (await new Deno.Command(cmd, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output()).success;
  } catch {
    return false;
  }
}

async function tmp(prefix: string): Promise<string> {
  return await Deno.makeTempDir({ prefix });
}

Deno.test("c client build: every C file with -std=c11 -Wall -Wextra -Werror by gcc and clang, the headers as C++ too", async () => {
  const out = await tmp("avi_c_warn_");
  try {
    const units: [string, string[]][] = [
      ...[
        "avi_client.c",
        "avi_port_posix.c",
        "avi_crypto_builtin.c",
        "avi_crypto_openssl.c",
        "avi_crypto_mbedtls.c",
      ].map((f): [string, string[]] => [`${C_SRC}${f}`, []]),
      [`${C_ROOT}linux/example.c`, []],
      [`${C_ROOT}fuzz/avi_fuzz.c`, ["-DAVI_FUZZ_OPENSSL"]],
      [`${C_ROOT}fuzz/avi_fuzz.c`, []],
      [TEST_PROGRAM, ["-DAVI_TEST_OPENSSL"]],
      [TEST_PROGRAM, ["-DAVI_TEST_MBEDTLS"]],
      [TEST_PROGRAM, ["-DAVI_TEST_BUILTIN"]],
    ];
    for (const cc of ["gcc", "clang"]) {
      for (const [i, [file, defs]] of units.entries()) {
        await run(
          cc,
          [
            ...WARNINGS,
            "-Os",
            ...defs,
            `-I${C_SRC}`,
            "-c",
            file,
            "-o",
            `${out}/${i}.o`,
          ],
          `${cc}: ${file}`,
        );
      }
    }
    const cpp = `${out}/headers.cpp`;
    await Deno.writeTextFile(
      cpp,
      [
        "avi_client.h",
        "avi_port_posix.h",
        "avi_crypto_builtin.h",
        "avi_crypto_openssl.h",
        "avi_crypto_mbedtls.h",
      ].map((h) => `#include "${h}"\n`).join("") +
        "int main() { avi_client_t c; return sizeof c > 0 ? 0 : 1; }\n",
    );
    for (const cxx of ["clang++", ...(await has("g++") ? ["g++"] : [])]) {
      await run(
        cxx,
        [
          "-std=c++17",
          "-Wall",
          "-Wextra",
          "-Werror",
          `-I${C_SRC}`,
          "-fsyntax-only",
          cpp,
        ],
        `${cxx}: the headers as C++`,
      );
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("c client build: the Makefile builds the library, the example and the selftest, with gcc and clang", async () => {
  for (const cc of ["gcc", "clang"]) {
    const out = await tmp(`avi_c_make_${cc}_`);
    try {
      const text = await run(
        "make",
        ["-s", `CC=${cc}`, `OUT=${out}`, "all", "selftest"],
        `make with ${cc}`,
        { cwd: C_ROOT },
      );
      assert.match(text, /^SELFTEST PASS$/m);
      for (const f of ["libavi_client.a", "avi_example", "avi_selftest"]) {
        assert.ok((await Deno.stat(`${out}/${f}`)).isFile, f);
      }
    } finally {
      await Deno.remove(out, { recursive: true });
    }
  }
});

Deno.test("c client build: the ESP-IDF component builds its own source list with the mbedTLS back end, and passes the worked examples", async () => {
  const out = await tmp("avi_c_idf_");
  try {
    await run(
      "cmake",
      ["-S", IDF_STUB, "-B", out, `-DAVI_COMPONENT_DIR=${C_ROOT}`],
      "configuring the component with the ESP-IDF stand-in",
    );
    await run("cmake", ["--build", out, "-j2"], "building the component");
    const registered = await Deno.readTextFile(`${out}/component.txt`);
    assert.match(
      registered,
      /^SRCS=src\/avi_client\.c;src\/avi_port_posix\.c;src\/avi_crypto_mbedtls\.c$/m,
    );
    assert.match(registered, /^INCLUDE_DIRS=src$/m);
    assert.match(registered, /^REQUIRES=mbedtls$/m);
    assert.match(registered, /^PRIV_REQUIRES=lwip$/m);
    const st = await run(`${out}/idf_selftest`, ["selftest"], "the selftest");
    assert.match(st, /^SELFTEST crypto mbedtls$/m);
    assert.match(st, /^SELFTEST PASS$/m);
    // The ESP-IDF code paths (esp_fill_random): ESP-IDF builds with gnu17.
    for (
      const f of ["avi_client.c", "avi_port_posix.c", "avi_crypto_mbedtls.c"]
    ) {
      await run(
        "gcc",
        [
          "-std=gnu11",
          "-Wall",
          "-Wextra",
          "-Werror",
          "-DESP_PLATFORM",
          `-I${STUBS}`,
          `-I${C_SRC}`,
          "-c",
          `${C_SRC}${f}`,
          "-o",
          `${out}/esp.o`,
        ],
        `${f} for ESP-IDF`,
      );
    }
    const yml = await Deno.readTextFile(`${C_ROOT}idf_component.yml`);
    for (
      const field of [
        "version",
        "description",
        "url",
        "license",
        "dependencies",
      ]
    ) {
      assert.match(yml, new RegExp(`^${field}:`, "m"), field);
    }
    assert.match(yml, /^version: "\d+\.\d+\.\d+"$/m);
    assert.match(yml, /^ {2}idf:\n {4}version: ">=4\.4"$/m);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("c client build: the Arduino library: library.properties, the example sketch (C++) and the sources for ESP32", async () => {
  const props = Object.fromEntries(
    (await Deno.readTextFile(`${C_ROOT}library.properties`)).trim().split("\n")
      .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
  );
  for (
    const f of [
      "name",
      "version",
      "author",
      "maintainer",
      "sentence",
      "paragraph",
      "category",
      "url",
      "architectures",
    ]
  ) assert.ok(props[f], f);
  assert.match(props.name, /^[A-Za-z0-9][A-Za-z0-9 _.-]{0,62}$/);
  assert.doesNotMatch(props.name, /^Arduino/);
  assert.match(props.version, /^\d+\.\d+\.\d+$/);
  assert.ok(
    [
      "Display",
      "Communication",
      "Signal Input/Output",
      "Sensors",
      "Device Control",
      "Timing",
      "Data Storage",
      "Data Processing",
      "Other",
    ].includes(props.category),
  );
  for (const h of props.includes.split(",")) {
    assert.ok((await Deno.stat(`${C_SRC}${h}`)).isFile, h);
  }
  const sketch = `${C_ROOT}examples/AviBasic/AviBasic.ino`;
  const out = await tmp("avi_c_arduino_");
  try {
    await run(
      "clang++",
      [
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-DARDUINO=10819",
        "-DARDUINO_ARCH_ESP32",
        "-DESP_PLATFORM",
        `-I${STUBS}`,
        `-I${C_SRC}`,
        "-include",
        "Arduino.h",
        "-fsyntax-only",
        "-x",
        "c++",
        sketch,
      ],
      "the example sketch",
    );
    // The Arduino IDE builds every file of src/: the OpenSSL and mbedTLS
    // back ends compile to nothing there, the rest builds.
    for (const e of Deno.readDirSync(C_SRC)) {
      if (!e.name.endsWith(".c")) continue;
      const o = `${out}/${e.name}.o`;
      await run(
        "gcc",
        [
          "-std=gnu11",
          "-Wall",
          "-Wextra",
          "-Werror",
          "-DARDUINO=10819",
          "-DESP_PLATFORM",
          `-I${STUBS}`,
          `-I${C_SRC}`,
          "-c",
          `${C_SRC}${e.name}`,
          "-o",
          o,
        ],
        `${e.name} for Arduino`,
      );
      const syms = await run("nm", ["--defined-only", "-g", o], "nm");
      if (/openssl|mbedtls/.test(e.name)) assert.equal(syms.trim(), "", e.name);
      else assert.notEqual(syms.trim(), "", e.name);
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("c client build: the Linux CMake build, and its example (the README's) against the real gateway", async () => {
  const out = await tmp("avi_c_cmake_");
  const gw = await startNode({ nodeName: "gateway" });
  const bridge = await EmbeddedBridge.start(gw.handle(), {
    udpPort: 0,
    hostname: "127.0.0.1",
    devices: { "77": KEY },
    contextFlushMs: 20,
  });
  try {
    await run(
      "cmake",
      ["-S", C_ROOT, "-B", out],
      "configuring the Linux build",
    );
    await run("cmake", ["--build", out, "-j2"], "the Linux build");
    const r = await new Deno.Command(`${out}/avi_example`, {
      args: ["127.0.0.1", String(bridge.port), "77", KEY],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(r.stdout);
    assert.equal(r.code, 0, text + new TextDecoder().decode(r.stderr));
    assert.match(text, /^connected$/m);
    await until(
      async () => {
        const v = await gw.handle().getContext("avi.sensors.77.temp");
        return (v as { data?: { value?: number } } | undefined)?.data
          ?.value === 21.5;
      },
      10_000,
      "the reading in the shared context",
    );
    // The README shows that example as it is.
    const readme = await Deno.readTextFile(`${C_ROOT}README.md`);
    const code = await Deno.readTextFile(`${C_ROOT}linux/example.c`);
    const body = code.slice(code.indexOf("#include <stdio.h>"));
    assert.ok(readme.includes(body.trim()), "README holds linux/example.c");
  } finally {
    await bridge.close();
    await shutdownAll(gw);
    await Deno.remove(out, { recursive: true });
  }
});
