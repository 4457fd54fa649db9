/**
 * A homogeneous VRRP pair for the failover benchmark: two vigil nodes or two
 * keepalived nodes, one VRID, the same advert_int, priorities 150 and 100.
 * The pair is started in order (the master first, then the backup once the
 * master holds the VIP), so every trial begins from the same state without
 * relying on preemption.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { LabHost, LabProcess } from "../test/lab/lab.ts";
import { signalPid } from "../test/lab/procfs.ts";
import {
  type Keepalived,
  killKeepalived,
  startKeepalived,
  startVigil,
  stopVigil,
  type VigilNode,
  vigilYaml,
  VIP,
} from "../test/lab/vrrp-lab.ts";

export type Impl = "vigil" | "keepalived";

export const MASTER_PRIORITY = 150;
export const BACKUP_PRIORITY = 100;

export interface PairSpec {
  impl: Impl;
  advertMs: number;
  /** Adverts missed before the master counts as down (vigil only; keepalived's is 3, RFC 5798). */
  downTimerAdverts?: number;
  master: LabHost;
  backup: LabHost;
  /** A fresh directory for this pair's configs and state. */
  dir: string;
  /** vigil's cluster key (two-node cluster, as deployed). */
  key: string;
}

export interface Router {
  readonly host: LabHost;
  readonly proc: LabProcess;
  /** Times the log says this router entered MASTER. */
  masterEntries(): number;
  /** Times the log says this router left MASTER (to BACKUP or FAULT). */
  masterExits(): number;
  /**
   * SIGKILL to the VRRP daemon and to `alongside` in the same instant: the
   * node's daemon and service die together. Resolves once both are gone.
   */
  crash(alongside: LabProcess): Promise<void>;
  /** A clean stop (SIGTERM, then SIGKILL); a no-op once crashed. */
  stop(): Promise<void>;
}

export interface Pair {
  master: Router;
  backup: Router;
}

const count = (text: string, re: RegExp): number => text.match(new RegExp(re.source, "g"))?.length ?? 0;

/** Generous: a start at 1 s adverts takes the master-down interval, about 3.6 s. */
const startTimeout = (advertMs: number): number => Math.max(15_000, advertMs * 10);

function vigilRouter(node: VigilNode): Router {
  return {
    host: node.host,
    get proc() {
      return node.proc;
    },
    masterEntries: () => count(node.proc.output(), /vrrp VI_1 MASTER/),
    masterExits: () => count(node.proc.output(), /vrrp VI_1 MASTER[\s\S]*?vrrp VI_1 (?:BACKUP|FAULT)/),
    async crash(alongside) {
      node.proc.killGroup("SIGKILL");
      alongside.killGroup("SIGKILL");
      await Promise.all([node.proc.exited, alongside.exited]);
    },
    async stop() {
      await stopVigil(node);
    },
  };
}

function keepalivedRouter(k: Keepalived): Router {
  const childPidFile = join(k.dir, `vrrp-${k.host.name}.pid`);
  return {
    host: k.host,
    get proc() {
      return k.proc;
    },
    masterEntries: () => count(k.proc.output(), /\(VI_1\) Entering MASTER STATE/),
    masterExits: () => count(k.proc.output(), /\(VI_1\) Entering MASTER STATE[\s\S]*?\(VI_1\) (?:Entering BACKUP STATE|Entering FAULT STATE)/),
    async crash(alongside) {
      // The VRRP child speaks the protocol: it and the service go first, together.
      const child = Number(readFileSync(childPidFile, "utf8").trim());
      if (!Number.isInteger(child) || child <= 0) throw new Error(`${childPidFile} holds no PID`);
      signalPid(child, "SIGKILL");
      alongside.killGroup("SIGKILL");
      await Promise.all([killKeepalived(k), alongside.exited]);
    },
    async stop() {
      if (k.proc.exitStatus === null) await k.proc.stop(3_000);
    },
  };
}

async function startOne(spec: PairSpec, host: LabHost, priority: number): Promise<Router> {
  if (spec.impl === "vigil") {
    const yaml = vigilYaml([spec.master, spec.backup], {
      priority: { [spec.master.name]: MASTER_PRIORITY, [spec.backup.name]: BACKUP_PRIORITY },
      advertInt: `${spec.advertMs}ms`,
      ...(spec.downTimerAdverts === undefined ? {} : { extra: [`    down_timer_adverts: ${spec.downTimerAdverts}`] }),
    }, spec.key);
    return vigilRouter(await startVigil(host, spec.dir, yaml));
  }
  if (spec.downTimerAdverts !== undefined && spec.downTimerAdverts !== 3) {
    throw new Error(`keepalived 2.2.7 has no down_timer_adverts setting; got ${spec.downTimerAdverts}`);
  }
  return keepalivedRouter(await startKeepalived(host, spec.dir, { priority, advertInt: String(spec.advertMs / 1000) }));
}

/** Starts the master, waits until it is MASTER, then the backup; stops what it started if that fails. */
export async function startPair(spec: PairSpec): Promise<Pair> {
  const started: Router[] = [];
  try {
    const master = await startOne(spec, spec.master, MASTER_PRIORITY);
    started.push(master);
    await master.proc.waitFor(() => master.masterEntries() > 0, startTimeout(spec.advertMs));
    const backup = await startOne(spec, spec.backup, BACKUP_PRIORITY);
    started.push(backup);
    return { master, backup };
  } catch (e) {
    await Promise.all(started.map((r) => r.stop()));
    throw e;
  }
}

/** Removes the VIP from the host's lab interface, whatever prefix length it was added with. */
export async function clearVip(host: LabHost): Promise<void> {
  const shown = await host.exec(["ip", "-4", "-o", "addr", "show", "dev", host.ifname()], { check: true });
  for (const m of shown.stdout.matchAll(/\binet (\S+)/g)) {
    const cidr = m[1] as string;
    if (cidr.split("/")[0] === VIP) await host.exec(["ip", "addr", "del", cidr, "dev", host.ifname()], { check: true });
  }
}
