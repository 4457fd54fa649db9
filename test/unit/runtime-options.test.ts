import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DAEMON_RUNTIME_OPTIONS, ensureRuntimeOptions, envWithRuntimeOptions, MIRROR_RUNTIME_OPTIONS, RUNTIME_OPTIONS_SWITCH, runtimeOptionsFor, takeBackAddedOptions } from "../../src/daemon/runtime-options.ts";

const OPTIONS = { BUN_JSC_a: "0", MIMALLOC_b: "1" };

describe("the daemon's runtime options", () => {
  it("adds every missing option to the environment it starts again with, keeping the rest", () => {
    expect(envWithRuntimeOptions({ PATH: "/bin", HOME: undefined }, OPTIONS)).toEqual({ PATH: "/bin", BUN_JSC_a: "0", MIMALLOC_b: "1", VIGIL_RUNTIME_OPTIONS_ADDED: "BUN_JSC_a,MIMALLOC_b" });
  });

  it("keeps a value the operator set, and leaves it to the children", () => {
    const env = envWithRuntimeOptions({ BUN_JSC_a: "1" }, OPTIONS) ?? {};
    expect(env).toEqual({ BUN_JSC_a: "1", MIMALLOC_b: "1", VIGIL_RUNTIME_OPTIONS_ADDED: "MIMALLOC_b" });
    expect(takeBackAddedOptions(env)).toEqual({ MIMALLOC_b: "1" });
    expect(env).toEqual({ BUN_JSC_a: "1" });
  });

  it("has nothing to do once every option is set, whoever set it", () => {
    expect(envWithRuntimeOptions({ BUN_JSC_a: "0", MIMALLOC_b: "7" }, OPTIONS)).toBeUndefined();
  });

  it("does nothing when the operator turned the options off", () => {
    expect(envWithRuntimeOptions({ [RUNTIME_OPTIONS_SWITCH]: "off" }, OPTIONS)).toBeUndefined();
  });

  it("starts again once, and the second start takes what it was given out of its environment", () => {
    const starts: Record<string, string>[] = [];
    const restart = (env: Record<string, string>) => {
      starts.push(env);
      return "not started";
    };
    expect(ensureRuntimeOptions(DAEMON_RUNTIME_OPTIONS, { PATH: "/bin" }, restart)).toBe("not started");
    expect(starts).toHaveLength(1);
    const second: Record<string, string | undefined> = { ...starts[0] };
    for (const [k, v] of Object.entries(DAEMON_RUNTIME_OPTIONS)) expect(second[k]).toBe(v);
    expect(ensureRuntimeOptions(DAEMON_RUNTIME_OPTIONS, second, restart)).toBeUndefined();
    expect(starts).toHaveLength(1);
    expect(second).toEqual({ PATH: "/bin" });
  });

  it("does not start again outside the built binary", () => {
    const env: Record<string, string | undefined> = {};
    expect(ensureRuntimeOptions(DAEMON_RUNTIME_OPTIONS, env, undefined)).toBeUndefined();
    expect(env).toEqual({});
  });

  it("keeps the optimizing compiler on a node with a mirror module (its data path needs it) with a longer allocator purge delay, and turns it off on the others", () => {
    const mirror = parse("modules:\n  - name: vms\n    type: failover\n  - { name: data, type: mirror }\n");
    const failover = parse("modules:\n  - name: web\n    type: failover\n# type: mirror\n");
    expect(runtimeOptionsFor(mirror)).toEqual({ MIMALLOC_PURGE_DELAY: "2000", NODE_ENV: "production" });
    expect(Object.keys(runtimeOptionsFor(mirror)).filter((k) => k.startsWith("BUN_JSC_"))).toEqual([]);
    expect(runtimeOptionsFor(failover)).toBe(DAEMON_RUNTIME_OPTIONS);
    expect(runtimeOptionsFor(null)).toBe(DAEMON_RUNTIME_OPTIONS);
    expect(runtimeOptionsFor({ modules: "mirror" })).toBe(DAEMON_RUNTIME_OPTIONS);
    // A mirror node starts again once with the purge delay (and the HTTP server's production mode); the second start gives them to no child.
    const starts: Record<string, string>[] = [];
    const restart = (e: Record<string, string>) => {
      starts.push(e);
      return "started";
    };
    expect(ensureRuntimeOptions(runtimeOptionsFor(mirror), { PATH: "/bin" }, restart)).toBe("started");
    const second = starts[0] ?? {};
    expect(second).toEqual({ PATH: "/bin", MIMALLOC_PURGE_DELAY: "2000", NODE_ENV: "production", VIGIL_RUNTIME_OPTIONS_ADDED: "MIMALLOC_PURGE_DELAY,NODE_ENV" });
    expect(ensureRuntimeOptions(runtimeOptionsFor(mirror), second, restart)).toBeUndefined();
    expect(starts).toHaveLength(1);
    expect(second).toEqual({ PATH: "/bin" });
    // An operator's own values win and need no second start.
    expect(ensureRuntimeOptions(MIRROR_RUNTIME_OPTIONS, { MIMALLOC_PURGE_DELAY: "-1", NODE_ENV: "production" }, restart)).toBeUndefined();
    expect(starts).toHaveLength(1);
  });
});
