/**
 * The applier's thread: carries out the ops the main thread posts, one at a
 * time in the order posted, and posts each result back. Started by
 * apply-threaded.ts with workerData (ApplyWorkerInput); see there why.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Applier } from "./apply.ts";
import type { ApplyResult } from "./apply-result.ts";
import type { MirrorOp } from "./ops.ts";

export interface ApplyWorkerInput {
  readonly applyRoot: string;
}

export type ApplyWorkerRequest = { readonly t: "op"; readonly id: number; readonly op: MirrorOp } | { readonly t: "close" };

export type ApplyWorkerMessage =
  | { readonly t: "ready"; readonly mtimeWindowNs: number }
  | { readonly t: "result"; readonly id: number; readonly result: ApplyResult };

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
    post({ t: "result", id: m.id, result: applier.apply(m.op) });
  });
  post({ t: "ready", mtimeWindowNs: applier.mtimeWindowNs });
}

if (parentPort !== null && workerData !== null && typeof workerData === "object" && "applyRoot" in workerData) void main(workerData as ApplyWorkerInput);
