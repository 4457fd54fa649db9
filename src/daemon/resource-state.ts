/**
 * Each module's resources and what they are on this node now, for the
 * status: a VIP by whether its address is on an interface here, a script or
 * service by its last start or stop (as the module driver logged it), the
 * mirror folder by its copy and link, a farm by the buckets it holds.
 */
import type { VigilConfig } from "../config/types.ts";
import type { FarmStatus } from "../api/farm.ts";
import { runsThere } from "../api/health.ts";
import type { ModuleStatus } from "../api/modules.ts";
import type { LogEvent, ModuleResources, ResourceStatus } from "../api/status.ts";
import { resourceLabel } from "../core/module/draft.ts";
import type { ModuleResource } from "../core/module/types.ts";
import type { Logger } from "./log.ts";
import { moduleResources } from "./module/core-config.ts";

interface LastOp {
  op: "start" | "stop";
  /** null while it runs. */
  ok: boolean | null;
  time: string;
  detail: string;
}

const OP_LINE = /^module (\S+) (start|stop) (.+) (ok|failed)$/;
/** The driver's debug line when it begins one (src/daemon/module/instance.ts). */
const BEGIN_LINE = /^module (\S+) (starting|stopping) (.+)$/;

/** The last start or stop of every resource, from the module driver's log lines. */
export class ResourceOps {
  private readonly last = new Map<string, LastOp>();

  constructor(log: Logger) {
    log.onEvent((e) => this.seen(e));
  }

  seen(e: LogEvent): void {
    const b = e.msg.match(BEGIN_LINE);
    if (b !== null) {
      this.last.set(`${b[1]}\u0000${b[3]}`, { op: b[2] === "starting" ? "start" : "stop", ok: null, time: e.time, detail: "" });
      return;
    }
    const m = e.msg.match(OP_LINE);
    if (m === null) return;
    const label = typeof e.fields.resource === "string" ? e.fields.resource : (m[3] ?? "");
    this.last.set(`${m[1]}\u0000${label}`, { op: m[2] as "start" | "stop", ok: m[4] === "ok", time: e.time, detail: String(e.fields.detail ?? "") });
  }

  get(module: string, label: string): LastOp | undefined {
    return this.last.get(`${module}\u0000${label}`);
  }
}

export interface ResourceInputs {
  config: VigilConfig;
  modules: readonly ModuleStatus[];
  farms: readonly FarmStatus[];
  ops: ResourceOps;
  /** IPv4 addresses on this node's interfaces now. */
  localAddresses: readonly string[];
}

export function resourceStates(i: ResourceInputs): ModuleResources[] {
  const local = new Set(i.localAddresses);
  return i.config.modules.map((mc): ModuleResources => {
    const status = i.modules.find((m) => m.name === mc.name);
    if (mc.type === "farm") {
      const farm = i.farms.find((f) => f.module === mc.name);
      return { module: mc.name, resources: farm === undefined ? [] : [farmResource(farm, local)] };
    }
    const running = status !== undefined && runsThere(status.state);
    return {
      module: mc.name,
      resources: moduleResources(mc).map((r) => oneResource(r, mc.name, running, status, i.ops, local)),
    };
  });
}

function opWords(op: LastOp | undefined): string {
  if (op === undefined) return "not started or stopped since vigil started";
  if (op.ok === null) return `${op.op === "start" ? "starting" : "stopping"} since ${op.time}`;
  const what = op.op === "start" ? (op.ok ? "started" : "start failed") : (op.ok ? "stopped" : "stop failed");
  return `${what} at ${op.time}${op.detail !== "" && !op.ok ? `: ${op.detail}` : ""}`;
}

function fromOp(op: LastOp | undefined): ResourceStatus["state"] {
  if (op === undefined) return "down";
  if (op.ok === null) return op.op === "start" ? "starting" : "stopping";
  if (!op.ok) return "failed";
  return op.op === "start" ? "up" : "down";
}

function oneResource(r: ModuleResource, module: string, running: boolean, status: ModuleStatus | undefined, ops: ResourceOps, local: Set<string>): ResourceStatus {
  const label = resourceLabel(r);
  // A script's start and stop are logged under their own file names.
  const seen = [ops.get(module, resourceLabel(r, "start")), ops.get(module, resourceLabel(r, "stop"))].filter((x): x is LastOp => x !== undefined);
  const op = seen.sort((a, b) => a.time.localeCompare(b.time)).at(-1);
  const expectedState = running ? "up" : "down";
  if (r.kind === "vip") {
    const address = r.address.split("/")[0] ?? r.address;
    const here = local.has(address);
    const state = here ? "up" : "down";
    const where = here ? `on this node${r.interface === null ? "" : ` (${r.interface})`}` : "not on this node";
    return { kind: "vip", name: label, state, detail: `${where}; ${opWords(op)}`, expected: settled(state, expectedState) };
  }
  if (r.kind === "mirror") {
    const mi = status?.mirror;
    const state = fromOp(op);
    const copy = mi === undefined ? "" : `copy ${mi.data}, replication ${mi.link}; `;
    return { kind: "mirror", name: label, state, detail: `${copy}${opWords(op)}`, expected: settled(state, expectedState) };
  }
  const state = fromOp(op);
  return { kind: r.kind, name: label, state, detail: opWords(op), expected: settled(state, expectedState) };
}

/** A start or stop under way is on its way to what the role asks. */
function settled(state: ResourceStatus["state"], wanted: "up" | "down"): boolean {
  return state === wanted || state === "starting" || state === "stopping";
}

function farmResource(f: FarmStatus, local: Set<string>): ResourceStatus {
  const serving = f.mode === "in" || f.mode === "drain";
  const address = f.vip.split("/")[0] ?? f.vip;
  const state = serving ? "up" : "down";
  const vipHere = local.has(address) ? "VIP on this node" : "VIP not on this node";
  return {
    kind: "farm",
    name: `farm ${f.vip} ports ${f.ports.join(",")}`,
    state,
    detail: `${f.mode}: holds ${f.held} of 256 buckets (${f.sharePct} %); ${vipHere}`,
    expected: true,
  };
}
