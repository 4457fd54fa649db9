import { describe, expect, it } from "vitest";
import { daemonsReapedAfterEach, soloNode } from "./solo-node.ts";
import { startDaemon } from "./vigil-binary.ts";

/**
 * The trim after start (a full collection, then the executable's pages
 * dropped, which the next ticks fault back in) holds the main thread, so a
 * node whose memory is not locked does not run it at the end of start-up,
 * while its peers have only just heard it: a heartbeat-only node collects at
 * initdead and drops 10 s later (memory-trim.ts, startTrimPlan). Timers never
 * fire early, so the gap between the two log lines has a lower bound.
 */
const running = daemonsReapedAfterEach();

const at = (log: string, re: RegExp): number => {
  const line = log.split("\n").find((l) => re.test(l));
  if (line === undefined) throw new Error(`no line ${re} in:\n${log}`);
  return Date.parse(line.split(" ")[0] ?? "");
};

describe("the trim after start on a node whose memory is not locked", () => {
  it("comes once initdead has passed, not at the end of start-up", async () => {
    const { runArgs } = await soloNode("vigil-start-trim-", { initdead: "500ms" });
    const d = startDaemon(runArgs);
    running.push(d);
    await d.waitForLog(/ memory trimmed after start/, 30_000);
    const log = d.log();
    expect(at(log, / memory trimmed after start/) - at(log, / vigil started /)).toBeGreaterThanOrEqual(500 + 10_000);
  }, 40_000);
});
