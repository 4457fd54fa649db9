/**
 * A node's modules talking to the arbiter (cluster.witness.arbiter): one
 * ArbiterClient for the node, answers routed back to the module that asked.
 *
 * Watchdog deadlines go to the fencing watchdog process (src/daemon/fence/),
 * which takes the module down at its deadline even while this daemon is
 * frozen or after it died; the module core also fences itself on its own
 * ticks (src/core/module/module.ts). That process only runs while an arbiter is configured.
 */
import type { VigilConfig } from "../../config/types.ts";
import type { ModuleInput } from "../../core/module/types.ts";
import { ArbiterClient, type ArbiterProblemKind } from "../../net/arbiter-client.ts";
import { readKeyFile } from "../../sys/keyfile.ts";
import type { FencePlan, FenceWatchdog } from "../fence/messages.ts";
import { startFenceWatchdog } from "../fence/watchdog.ts";
import type { Logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { ModuleArbiterLink } from "./instance.ts";

export interface ArbiterLinkHandle {
  readonly link: ModuleArbiterLink;
  /** Watchdog deadlines per module (our monotonic ms), for the status. */
  readonly watchdogs: ReadonlyMap<string, number>;
  /** What the fencing watchdog takes down for `module` (its VIPs and stops); given before the module runs. */
  fencePlan(module: string, plan: FencePlan): void;
  close(): Promise<void>;
}

export type ArbiterLinkSetup =
  | { ok: true; handle: ArbiterLinkHandle | undefined }
  | { ok: false; message: string };

/** Problems are logged once per kind per this many ms (a lost arbiter makes one per retry). */
const LOG_EVERY_MS = 10_000;

export function openArbiterLink(
  config: VigilConfig,
  self: string,
  log: Logger,
  metrics: Metrics,
  clock: () => number = () => performance.now(),
  startFence: () => FenceWatchdog | undefined = () => startFenceWatchdog(log, { clock }),
): ArbiterLinkSetup {
  const c = config.cluster;
  const where = c.witness.arbiter;
  if (where === undefined) return { ok: true, handle: undefined };
  if (c.key_file === undefined) return { ok: false, message: "cluster.witness.arbiter is set but cluster.key_file is not: requests to the arbiter must be signed with the cluster key" };
  const key = readKeyFile(c.key_file);
  if (!key.ok) return { ok: false, message: key.message };
  const i = where.lastIndexOf(":");
  const arbiter = { address: where.slice(0, i), port: Number(where.slice(i + 1)) };
  const replies = new Map<string, (answer: Extract<ModuleInput, { type: "lease" }>) => void>();
  const watchdogs = new Map<string, number>();
  const sent = metrics.counter("vigil_arbiter_messages_sent_total", "Lease requests and releases sent to the arbiter, by type.");
  const answers = metrics.counter("vigil_arbiter_answers_total", "Arbiter answers taken, by result (granted, denied).");
  const dropped = metrics.counter("vigil_arbiter_problems_total", "Arbiter answers dropped or messages not sent, by reason.");
  const lastLog = new Map<ArbiterProblemKind, number>();
  const client = ArbiterClient.create({
    cluster: c.name,
    self,
    key: key.key,
    arbiter,
    onAnswer: (module, a) => {
      answers({ result: a.granted ? "granted" : "denied" });
      replies.get(module)?.({ type: "lease", ...a });
    },
    onProblem: (kind, detail) => {
      dropped({ reason: kind });
      const now = clock();
      const last = lastLog.get(kind);
      if (last !== undefined && now - last < LOG_EVERY_MS) return;
      lastLog.set(kind, now);
      log.warn(kind === "send-failed" ? "arbiter unreachable" : "arbiter answer dropped", { reason: kind, arbiter: where, detail });
    },
  });
  log.info("arbiter on", { arbiter: where, lease_ms: c.witness.lease });
  const fence = startFence();
  const plans = new Map<string, FencePlan>();
  return {
    ok: true,
    handle: {
      watchdogs,
      fencePlan: (module, plan) => plans.set(module, plan),
      link: {
        request(module, request, reply) {
          replies.set(module, reply);
          sent({ type: "request" });
          client.request(module, request);
        },
        release(module) {
          sent({ type: "release" });
          client.release(module);
        },
        watchdog(module, deadline) {
          if (deadline === null) {
            watchdogs.delete(module);
            fence?.disarm(module);
            return;
          }
          watchdogs.set(module, deadline);
          const plan = plans.get(module);
          if (plan === undefined) log.warn("fence watchdog armed without a plan: it can take nothing down", { module });
          fence?.arm(module, deadline - clock(), plan ?? { vips: [], stops: [] });
        },
      },
      close: () => {
        fence?.close();
        return client.close();
      },
    },
  };
}
