/**
 * The applier's thread: carries out the ops the main thread posts, one at a
 * time in the order posted, and posts each result back. Started by
 * apply-threaded.ts with workerData (ApplyWorkerInput); see there why.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Applier, type CacheDrops } from "./apply.ts";
import type { DirtyMarks } from "./apply-sync.ts";
import type { ApplyResult } from "./apply-result.ts";
import type { MirrorOp } from "./ops.ts";

export interface ApplyWorkerInput {
  readonly applyRoot: string;
}

/**
 * Ops numbered from `first`, applied in order; their results come back as one
 * message. Before them: the caches the main thread's own ops made stale
 * (`drop`), and what those ops changed, for this thread's syncs (`dirty`).
 */
export type ApplyWorkerRequest =
  | { readonly t: "ops"; readonly first: number; readonly ops: readonly MirrorOp[]; readonly drop?: CacheDrops; readonly dirty?: DirtyMarks }
  | { readonly t: "close" };

export type ApplyWorkerMessage =
  | { readonly t: "ready"; readonly mtimeWindowNs: number }
  | { readonly t: "results"; readonly first: number; readonly results: readonly ApplyResult[] };

async function main(input: ApplyWorkerInput): Promise<void> {
  const port = parentPort!;
  const applier = await Applier.open(input.applyRoot);
  const post = (m: ApplyWorkerMessage): void => port.postMessage(m);
  port.on("message", (m: ApplyWorkerRequest) => {
    if (m.t === "close") {
      applier.close();
      port.close();
      return;
    }
    if (m.drop !== undefined) applier.dropCaches(m.drop);
    if (m.dirty !== undefined) applier.mergeDirty(m.dirty);
    post({ t: "results", first: m.first, results: m.ops.map((op) => applier.apply(op)) });
  });
  post({ t: "ready", mtimeWindowNs: applier.mtimeWindowNs });
}

if (parentPort !== null && workerData !== null && typeof workerData === "object" && "applyRoot" in workerData) void main(workerData as ApplyWorkerInput);
