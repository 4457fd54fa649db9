/**
 * The start-up grace as the daemon configures it: the heartbeat's setup gives
 * the membership core one deadtime ("Start-up grace" in membership.ts), and
 * check-config states the detection bound with and without it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { detectionLines } from "../../src/cli/detection-text.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { VigilConfig } from "../../src/config/types.ts";
import { heartbeatSetup } from "../../src/daemon/heartbeat/setup.ts";
import type { Logger } from "../../src/daemon/log.ts";
import type { Metrics } from "../../src/daemon/metrics.ts";
import { writeKeyFile } from "../../src/sys/keyfile.ts";

const dir = mkdtempSync(join(tmpdir(), "vigil-start-grace-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(heartbeat: string, nodes = 2): VigilConfig {
  const text = [
    "cluster:",
    "  name: lab",
    "  key_file: vigil.key",
    "  nodes:",
    ...["    - { name: a, addresses: [198.51.100.11] }", "    - { name: b, addresses: [198.51.100.12] }"].slice(0, nodes),
    `  heartbeat: ${heartbeat}`,
    "",
  ].join("\n");
  const r = parseConfig(text, join(dir, "vigil.yaml"));
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

describe("start-up grace in the daemon's config", () => {
  it("the heartbeat's setup gives the membership core one deadtime of start-up grace", () => {
    const key = writeKeyFile(join(dir, "vigil.key"));
    expect(key.ok).toBe(true);
    const quiet = { warn: () => undefined, info: () => undefined } as unknown as Logger;
    for (const [hb, grace] of [["{ preset: lan }", 500], ["{ preset: fast }", 100], ["{ interval: 200ms, deadtime: 2s }", 2000]] as const) {
      const s = heartbeatSetup(config(hb), "a", quiet, {} as Metrics);
      if (!s.ok || s.options === undefined) throw new Error(`no heartbeat options for ${hb}`);
      expect(s.options.membership.startGraceMs).toBe(grace);
    }
  });

  it("check-config states the detection bound, and the longer one of a node in its start-up", () => {
    expect(detectionLines(config("{ preset: lan }"))).toEqual([
      "  heartbeat: a node that stops is called dead at most 600 ms after its last frame (deadtime + interval); " +
        "in its own start-up (up to initdead, 5 s, after its peers first hear its new run) at most 1.1 s: " +
        "its peers give it 500 ms of start-up grace, so a start-up step that a loaded host stretches past deadtime is not taken for a death",
    ]);
    expect(detectionLines(config("{ preset: wan }"))[0]).toContain("at most 11 s after its last frame (deadtime + interval); in its own start-up (up to initdead, 20 s, after its peers first hear its new run) at most 21 s");
    expect(detectionLines(config("{ preset: lan }", 1))).toEqual([]);
  });
});
