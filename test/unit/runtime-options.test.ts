import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DAEMON_RUNTIME_OPTIONS, ensureRuntimeOptions, envWithRuntimeOptions, RUNTIME_OPTIONS_SWITCH, runtimeOptionsFor, takeBackAddedOptions } from "../../src/daemon/runtime-options.ts";

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

  it("keeps the runtime's defaults on a node with a mirror module (its data path needs the optimizing compiler), and starts again on the others", () => {
    const mirror = parse("modules:\n  - name: vms\n    type: failover\n  - { name: data, type: mirror }\n");
    const failover = parse("modules:\n  - name: web\n    type: failover\n# type: mirror\n");
    expect(runtimeOptionsFor(mirror)).toEqual({});
    expect(runtimeOptionsFor(failover)).toBe(DAEMON_RUNTIME_OPTIONS);
    expect(runtimeOptionsFor(null)).toBe(DAEMON_RUNTIME_OPTIONS);
    expect(runtimeOptionsFor({ modules: "mirror" })).toBe(DAEMON_RUNTIME_OPTIONS);
    const starts: Record<string, string>[] = [];
    const env: Record<string, string | undefined> = { PATH: "/bin" };
    expect(ensureRuntimeOptions(runtimeOptionsFor(mirror), env, (e) => { starts.push(e); return "started"; })).toBeUndefined();
    expect(starts).toHaveLength(0);
    expect(env).toEqual({ PATH: "/bin" });
  });
});
