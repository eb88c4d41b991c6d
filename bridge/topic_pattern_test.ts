import assert from "node:assert/strict";
import fc from "fast-check";
import { hasWildcard, matchTopic, validatePattern } from "./topic_pattern.ts";

Deno.test("matchTopic() follows MQTT rules for + and #", () => {
  const yes: [string, string][] = [
    ["a/b/c", "a/b/c"],
    ["a/+/c", "a/b/c"],
    ["a/+/c", "a//c"],
    ["+/+/+", "a/b/c"],
    ["a/#", "a"],
    ["a/#", "a/b"],
    ["a/#", "a/b/c/d"],
    ["#", "x/y"],
    ["device/+/sensor/#", "device/7/sensor/temp"],
    ["+", ""],
    ["$sys/#", "$sys/x"],
  ];
  const no: [string, string][] = [
    ["a/b/c", "a/b"],
    ["a/b", "a/b/c"],
    ["a/+/c", "a/b/d"],
    ["a/+", "a/b/c"],
    ["a/+", "a"],
    ["b/#", "a/b"],
    ["#", "$sys/x"],
    ["+/x", "$sys/x"],
    ["device/1/#", "device/12/x"],
  ];
  for (const [p, t] of yes) assert.ok(matchTopic(p, t), `${p} ~ ${t}`);
  for (const [p, t] of no) assert.ok(!matchTopic(p, t), `${p} !~ ${t}`);
});

Deno.test("matchTopic() of a literal pattern is string equality", () => {
  const level = fc.stringMatching(/^[a-z0-9$]{0,3}$/);
  const topic = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) =>
    l.join("/")
  );
  fc.assert(fc.property(topic, topic, (a, b) => {
    assert.equal(matchTopic(a, b), a === b);
  }));
});

Deno.test("matchTopic() with # matches every extension of the prefix", () => {
  const level = fc.stringMatching(/^[a-z0-9]{1,3}$/);
  const levels = fc.array(level, { minLength: 0, maxLength: 4 });
  fc.assert(fc.property(levels, levels, (pre, rest) => {
    const p = [...pre, "#"].join("/");
    if (pre.length === 0 && rest.length === 0) return;
    assert.ok(matchTopic(p, [...pre, ...rest].join("/")));
  }));
});

Deno.test("validatePattern() rejects misplaced wildcards with InvalidTopicError", () => {
  for (const ok of ["a", "a/+/b", "#", "a/#", "+"]) validatePattern(ok);
  for (const bad of ["", "a/#/b", "a/b#", "a+/b", "#/a"]) {
    assert.throws(() => validatePattern(bad), { name: "InvalidTopicError" });
  }
  assert.ok(hasWildcard("a/#") && !hasWildcard("a/b"));
});
