/**
 * A reload (SIGHUP) touches only the modules whose config changed: the
 * others keep running untouched, removed ones stop, added ones start.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import type { ModuleResource } from "../../src/core/module/module.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";
import { ModuleEngine, type ModuleEngineOptions } from "../../src/daemon/module/engine.ts";
import { baseCore, FakeHost, until } from "./module-engine-harness.ts";
import { moduleConfigKey, moduleSharedKey, witnessPingKey } from "../../src/daemon/module/setup.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { Checker } from "../../src/sys/checkers/types.ts";

const dirs: string[] = [];
const engines: ModuleEngine[] = [];
afterEach(() => {
  for (const e of engines.splice(0)) e.halt();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

type ModuleOptions = ModuleEngineOptions["modules"][number];

function moduleOptions(name: string, vip: string, script: string, host: FakeHost, stateDir: string, log: Logger): ModuleOptions {
  const resources: ModuleResource[] = [
    { kind: "vip", address: vip, interface: null },
    { kind: "script", start: `/srv/${script}-start.sh`, stop: `/srv/${script}-stop.sh` },
  ];
  return {
    core: baseCore("a", ["a", "b"], { module: name, resources }),
    type: "failover",
    checks: [],
    checkerInfo: new Map(),
    resources: { io: host },
    stateDir,
    log,
  };
}

function setup() {
  const host = new FakeHost();
  const lines: string[] = [];
  const log = new Logger("json", (l) => lines.push(l));
  const stateDir = mkdtempSync(join(tmpdir(), "vigil-reload-"));
  dirs.push(stateDir);
  const mod = (name: string, vip: string, script = name) => moduleOptions(name, vip, script, host, stateDir, log);
  return { host, lines, mod, log };
}

const runningAll = (e: ModuleEngine, names: readonly string[]) =>
  names.every((n) => e.statuses().find((s) => s.name === n)?.state === "ALONE" && e.instance(n)?.core.started === 2);

describe("module engine reload", { timeout: 15_000 }, () => {
  test("restarts only the changed module, stops the removed one, starts the added one, leaves the rest running", async () => {
    const { host, lines, mod, log } = setup();
    const engine = new ModuleEngine({
      modules: [mod("web", "198.51.100.100/24"), mod("db", "198.51.100.101/24"), mod("cache", "198.51.100.102/24")],
      log,
      metrics: new Metrics(),
    });
    engines.push(engine);
    engine.start([{ name: "b", liveness: "dead" }]);
    await until(() => runningAll(engine, ["web", "db", "cache"]));
    const web = engine.instance("web");
    const effectsBefore = host.effects.length;
    const linesBefore = lines.length;

    const result = await engine.reload([mod("web", "198.51.100.100/24"), mod("db", "198.51.100.101/24", "db2"), mod("mail", "198.51.100.103/24")]);
    expect(result).toEqual({ kept: ["web"], restarted: ["db"], added: ["mail"], removed: ["cache"] });
    await until(() => runningAll(engine, ["web", "db", "mail"]));

    const after = host.effects.slice(effectsBefore);
    // The unchanged module: not stopped, not started again, no transition.
    expect(after.filter((e) => e.includes("web-") || e.includes("198.51.100.100"))).toEqual([]);
    expect(engine.instance("web")).toBe(web);
    const transitions = (m: string) => lines.slice(linesBefore).map((l) => JSON.parse(l)).filter((e) => e.module === m && typeof e.from === "string");
    expect(transitions("web")).toEqual([]);
    expect(transitions("db").map((e) => `${e.from}->${e.to}`)).toEqual(["ALONE->STOP", "STOP->ALONE"]);
    // The changed one stops with its old scripts and starts with the new ones; removed stops, added starts.
    expect(after).toContain("run /srv/db-stop.sh");
    expect(after).toContain("run /srv/db2-start.sh");
    expect(after.indexOf("run /srv/db-stop.sh")).toBeLessThan(after.indexOf("run /srv/db2-start.sh"));
    expect(after).toContain("run /srv/cache-stop.sh");
    expect(after).toContain("del 198.51.100.102/24 eth0");
    expect(after.some((e) => e.startsWith("run /srv/cache-start.sh"))).toBe(false);
    expect(after).toContain("run /srv/mail-start.sh");
    expect(engine.statuses().map((s) => s.name)).toEqual(["web", "db", "mail"]);
    expect(engine.adverts().map((a) => a.module)).toEqual(["web", "db", "mail"]);
  });

  test("a change of the witness ping only is applied in place: no module stops, starts or moves", async () => {
    const { host, lines, mod, log } = setup();
    const engine = new ModuleEngine({ modules: [mod("web", "198.51.100.100/24")], log, metrics: new Metrics() });
    engines.push(engine);
    engine.start([{ name: "b", liveness: "dead" }]);
    await until(() => runningAll(engine, ["web"]));
    const web = engine.instance("web");
    const before = host.effects.length;
    const linesBefore = lines.length;
    let pinged = 0;
    const reachable: Checker = { kind: "ping", target: "192.0.2.1", run: () => { pinged++; return Promise.resolve({ ok: true, detail: "reachable", durationMs: 1 }); } };
    engine.setWitness({ addresses: ["192.0.2.1"], intervalMs: 20, checkerFor: () => reachable });
    expect(web?.core.config.witnessPing).toBe(true);
    await until(() => pinged > 0);
    engine.setWitness(undefined);
    expect(web?.core.config.witnessPing).toBe(false);
    expect(engine.instance("web")).toBe(web);
    expect(host.effects.slice(before)).toEqual([]);
    expect(lines.slice(linesBefore).map((l) => JSON.parse(l)).filter((e) => typeof e.from === "string")).toEqual([]);
    expect(engine.statuses()[0]?.state).toBe("ALONE");
  });

  test("the reload decision: a witness ping change leaves the engine's shared key alone, an arbiter change does not", () => {
    const yaml = (witness: string) => [
      "cluster:", "  name: c", "  nodes: [{ name: a, addresses: [192.0.2.1] }, { name: b, addresses: [192.0.2.2] }]", `  witness: ${witness}`,
      "modules:", "  - { name: web, type: failover, resources: [{ vip: 192.0.2.100/24 }] }", "",
    ].join("\n");
    const load = (w: string) => {
      const r = parseConfig(yaml(w), "/etc/vigil/vigil.yaml");
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      return r.config;
    };
    const none = load("{ ping: [] }");
    const ping = load("{ ping: [192.0.2.9] }");
    const arbiter = load("{ ping: [], arbiter: 192.0.2.8:7697 }");
    expect(moduleSharedKey(ping)).toBe(moduleSharedKey(none));
    expect(moduleConfigKey(ping)).toBe(moduleConfigKey(none));
    expect(witnessPingKey(ping)).not.toBe(witnessPingKey(none));
    expect(moduleSharedKey(arbiter)).not.toBe(moduleSharedKey(none));
    expect(moduleSharedKey(load("{ ping: [], arbiter: 192.0.2.7:7697 }"))).not.toBe(moduleSharedKey(arbiter));
  });

  test("a reload with nothing changed touches nothing", async () => {
    const { host, mod, log } = setup();
    const engine = new ModuleEngine({ modules: [mod("web", "198.51.100.100/24")], log, metrics: new Metrics() });
    engines.push(engine);
    engine.start([{ name: "b", liveness: "dead" }]);
    await until(() => runningAll(engine, ["web"]));
    const before = host.effects.length;
    expect(await engine.reload([mod("web", "198.51.100.100/24")])).toEqual({ kept: ["web"], restarted: [], added: [], removed: [] });
    expect(host.effects.slice(before)).toEqual([]);
    expect(engine.statuses()[0]?.state).toBe("ALONE");
  });
});
