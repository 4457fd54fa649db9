/**
 * What the lab's hung-disk tests check on the SECOND (h2) whose copy folder
 * is the hanging layer (hang-layer.ts): that it says DISK HUNG with the
 * reason once the layer holds one of its calls, that it still says so after
 * a while, and that it says its disk answers again once the layer does.
 */
import { expect } from "vitest";
import type { ModuleStatus } from "../../src/api/modules.ts";
import type { HangingLayer } from "./hang-layer.ts";
import type { MirrorLab, MirrorNode } from "./mirror-lab.ts";
import { waitUntil } from "./wait.ts";

const lines = (log: string, re: RegExp): string[] => log.split("\n").filter((l) => re.test(l));

/**
 * The layer hangs; once it holds a call of h2's, h2 answers over its control
 * socket and says its disk is hung and why, in its module status and in
 * `vigil status`. Returns that status and the reason.
 */
export async function hangUntilDiskHung(m: MirrorLab, h2: MirrorNode, layer: HangingLayer): Promise<{ s2: ModuleStatus; reason: string }> {
  layer.tell("hang");
  await waitUntil(() => layer.output().includes("ok hang"), { timeoutMs: 10_000, what: "the layer hangs" });
  await waitUntil(() => layer.output().includes("held "), { timeoutMs: 30_000, what: "a call of h2's into the layer is held" });
  const s2 = await h2.waitModule((x) => (x.mirror?.diskHung ?? null) !== null, "h2 reports its disk hung", 60_000);
  const reason = `the disk beneath ${m.folder} has not finished an op for`;
  expect(s2.mirror?.diskHung).toContain(reason);
  const cli = await h2.cli(["status"]);
  expect(cli.code).toBe(0);
  expect(cli.out).toContain(`DISK HUNG: ${reason}`);
  return { s2, reason };
}

/** `forMs` after now, h2 still says its disk is hung for `reason`, and the layer was never released. */
export async function stillHungAfter(h2: MirrorNode, layer: HangingLayer, reason: string, forMs: number, timeoutMs: number): Promise<void> {
  const hungAt = Date.now();
  await waitUntil(() => Date.now() - hungAt > forMs, { timeoutMs, intervalMs: 1_000, what: `${forMs / 1000} s with h2's disk hung` });
  expect((await h2.module()).mirror?.diskHung).toContain(reason);
  expect(layer.output()).not.toContain("ok release");
}

/** The layer answers again, and h2 says so in a log line after those it had written (`out2`: h2's output so far). */
export async function releaseUntilAnswering(layer: HangingLayer, out2: () => string): Promise<void> {
  const again2 = out2().length;
  layer.tell("release");
  await waitUntil(() => lines(out2().slice(again2), /"msg":"mirror copy's disk answers again/).length > 0, { timeoutMs: 30_000, what: "h2 says its disk answers again" });
}
