// A node's arbiter link built from vigil.yaml, against a real arbiter on 127.0.0.1.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfigFile } from "../../src/config/load.ts";
import type { VigilConfig } from "../../src/config/types.ts";
import type { ModuleInput } from "../../src/core/module/types.ts";
import { openArbiterLink } from "../../src/daemon/module/arbiter-link.ts";
import { Logger } from "../../src/daemon/log.ts";
import { Metrics } from "../../src/daemon/metrics.ts";
import { witnessCoreConfig } from "../../src/daemon/witness/daemon.ts";
import { WitnessServer } from "../../src/daemon/witness/server.ts";

// Not one repeated byte: a key file like that is refused as weak.
const KEY = Uint8Array.from({ length: 32 }, (_, i) => i * 7 + 3);
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f();
});

function config(arbiter: string, key = true): VigilConfig {
  const dir = mkdtempSync(join(tmpdir(), "vigil-arbiter-link-"));
  if (key) writeFileSync(join(dir, "vigil.key"), KEY, { mode: 0o600 });
  writeFileSync(join(dir, "vigil.yaml"), [
    "cluster:",
    "  name: pair",
    ...(key ? ["  key_file: vigil.key"] : []),
    "  nodes:",
    "    - { name: n1, addresses: [127.0.0.2] }",
    "    - { name: n2, addresses: [127.0.0.3] }",
    `  witness: { arbiter: "${arbiter}", lease: 2s, grace: 500ms }`,
    "modules:",
    "  - { name: web, type: failover, vip: 198.51.100.80/24, interface: lo }",
    "  - { name: db, type: failover, vip: 198.51.100.81/24, interface: lo }",
    "",
  ].join("\n"));
  const loaded = loadConfigFile(join(dir, "vigil.yaml"));
  if (!loaded.ok) throw new Error(JSON.stringify(loaded.errors));
  return loaded.config;
}

async function arbiterFor(c: VigilConfig): Promise<number> {
  const server = new WitnessServer({
    cluster: c.cluster.name, key: KEY, witness: witnessCoreConfig(c), listen: { host: "127.0.0.1", port: 0 },
    log: new Logger("text", () => {}), metrics: new Metrics(), quiet: false,
  });
  await server.start();
  cleanup.push(() => server.stop());
  return server.endpoint().port;
}

type Lease = Extract<ModuleInput, { type: "lease" }>;

describe("arbiter link of a node", () => {
  it("refuses an arbiter without a cluster key", () => {
    const noKey = config("127.0.0.1:7693", false);
    const r = openArbiterLink(noKey, "n1", new Logger("text", () => {}), new Metrics());
    expect(r).toEqual({ ok: false, message: "cluster.witness.arbiter is set but cluster.key_file is not: requests to the arbiter must be signed with the cluster key" });
  });

  it("routes each answer to the module that asked, as the core's lease input", async () => {
    const port = await arbiterFor(config("127.0.0.1:1"));
    const metrics = new Metrics();
    const r = openArbiterLink(config(`127.0.0.1:${port}`), "n1", new Logger("text", () => {}), metrics);
    if (!r.ok || r.handle === undefined) throw new Error("no link");
    const h = r.handle;
    cleanup.push(() => h.close());
    const got: { module: string; answer: Lease }[] = [];
    h.link.request("web", 11, (answer) => got.push({ module: "web", answer }));
    h.link.request("db", 5, (answer) => got.push({ module: "db", answer }));
    for (let i = 0; i < 500 && got.length < 2; i++) await new Promise((res) => setTimeout(res, 5));
    expect(got.sort((a, b) => a.module.localeCompare(b.module))).toEqual([
      { module: "db", answer: { type: "lease", request: 5, granted: true, durationMs: 2000, holder: "n1", detail: "granted" } },
      { module: "web", answer: { type: "lease", request: 11, granted: true, durationMs: 2000, holder: "n1", detail: "granted" } },
    ]);
    h.link.watchdog("web", 1234);
    expect(h.watchdogs.get("web")).toBe(1234);
    h.link.watchdog("web", null);
    expect(h.watchdogs.has("web")).toBe(false);
    expect(metrics.render()).toMatch(/vigil_arbiter_answers_total\{result="granted"\} 2/);
  });
});
