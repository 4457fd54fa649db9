/**
 * A vigil mirror pair for bench/mirror.ts: the real binary on two lab hosts,
 * as test/lab/mirror-lab.ts runs it (each daemon in its own mount namespace
 * with its own folder bound over one shared path), but with a service that
 * does nothing, so the benchmark's workloads are the only writers (unless
 * the caller gives start and stop scripts; `bin` picks another binary).
 */
import { execFile } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ModuleStatus } from "../src/api/modules.ts";
import type { StatusSnapshot } from "../src/api/status.ts";
import { type Lab, type LabHost, type LabProcess, waitUntil } from "../test/lab/lab.ts";
import { VIGIL_BIN } from "../test/lab/vigil-cluster.ts";

export type NodeName = "h1" | "h2";

/** The heartbeat of the pair: the deadtime is what a write may wait for a vanished peer. */
export const HEARTBEAT = { interval: "100ms", deadtime: "500ms", initdead: "2s" } as const;
export const DEADTIME_MS = 500;

function runVigil(args: string[], bin = VIGIL_BIN): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(bin, args, { encoding: "utf8", timeout: 30_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface VigilPair {
  /** The replicated path, as the PRIM's applications see it (inside h1's daemon's mount namespace). */
  readonly folder: string;
  /** The real files of a node's copy, from the root mount namespace. */
  data(n: NodeName): string;
  /** A node's state dir (copy record, journal). */
  stateDir(n: NodeName): string;
  /** PID of a node's daemon, or null when it is not running. */
  pid(n: NodeName): number | null;
  /** What a node's daemon (the last one started) has logged so far (JSON lines). */
  output(n: NodeName): string;
  start(n: NodeName): Promise<void>;
  stop(n: NodeName): Promise<void>;
  module(n: NodeName): Promise<ModuleStatus>;
  waitModule(n: NodeName, pred: (m: ModuleStatus) => boolean, what: string, timeoutMs?: number): Promise<ModuleStatus>;
  /** h1 runs the module and replicates; h2 is an up-to-date SECOND. */
  waitSync(timeoutMs?: number): Promise<void>;
  /** h1 runs alone (journaling). */
  waitAlone(timeoutMs?: number): Promise<void>;
  stopAll(): Promise<void>;
}

export interface PairOptions {
  /** The vigil binary both nodes run (default VIGIL_BIN): two builds can then be compared in one run. */
  bin?: string;
  /** The module's start and stop scripts (default: ones that do nothing, so the benchmark's workloads are the only writers). */
  service?: { start: string; stop: string };
}

export async function startVigilPair(lab: Lab, dir: string, mode: "sync" | "async" = "sync", opts: PairOptions = {}): Promise<VigilPair> {
  const bin = opts.bin ?? VIGIL_BIN;
  const folder = join(dir, "srv");
  mkdirSync(folder, { recursive: true });
  for (const n of ["h1", "h2"]) mkdirSync(join(dir, `${n}-data`), { recursive: true });
  const noop = join(dir, "noop.sh");
  writeFileSync(noop, "#!/bin/sh\nexit 0\n");
  chmodSync(noop, 0o755);
  const key = join(dir, "vigil.key");
  const k = await runVigil(["keygen", key], bin);
  if (k.code !== 0) throw new Error(`vigil keygen: ${k.stderr}`);
  const [h1, h2] = [lab.host("h1"), lab.host("h2")];
  const config = join(dir, "vigil.yaml");
  writeFileSync(config, [
    "cluster:",
    "  name: mirror-bench",
    `  key_file: ${key}`,
    "  nodes:",
    `    - { name: h1, addresses: [${h1.addr(1)}] }`,
    `    - { name: h2, addresses: [${h2.addr(1)}] }`,
    `  heartbeat: { interval: ${HEARTBEAT.interval}, deadtime: ${HEARTBEAT.deadtime}, initdead: ${HEARTBEAT.initdead} }`,
    "modules:",
    "  - name: data",
    "    type: mirror",
    "    prefer: h1",
    "    failback: manual",
    `    replicate: [${folder}]`,
    ...(mode === "async" ? ["    mode: async"] : []),
    `    start: ${opts.service?.start ?? noop}`,
    `    stop: ${opts.service?.stop ?? noop}`,
    "web:",
    "  listen: 127.0.0.1:0",
    "",
  ].join("\n"));

  const procs = new Map<NodeName, LabProcess>();
  const stateDir = (n: NodeName) => join(dir, `state-${n}`);
  const host = (n: NodeName): LabHost => (n === "h1" ? h1 : h2);

  const module = async (n: NodeName): Promise<ModuleStatus> => {
    const r = await runVigil(["status", "--json", "--state-dir", stateDir(n)], bin);
    if (r.code !== 0) throw new Error(`vigil status on ${n}: ${r.stderr}`);
    const s = JSON.parse(r.stdout) as StatusSnapshot;
    const m = s.modules.find((x) => x.name === "data");
    if (m === undefined) throw new Error(`no module data on ${n}`);
    return m;
  };
  const waitModule = async (n: NodeName, pred: (m: ModuleStatus) => boolean, what: string, timeoutMs = 30_000): Promise<ModuleStatus> => {
    let last: ModuleStatus | undefined;
    try {
      await waitUntil(async () => {
        try {
          last = await module(n);
        } catch {
          return false;
        }
        return pred(last);
      }, { timeoutMs, what: `${n}: ${what}`, intervalMs: 50 });
    } catch (e) {
      throw new Error(`${(e as Error).message}; last: ${JSON.stringify({ state: last?.state, mirror: last?.mirror })}`);
    }
    return last as ModuleStatus;
  };
  const pid = (n: NodeName): number | null => {
    const p = procs.get(n);
    return p !== undefined && p.exitStatus === null ? p.pid : null;
  };
  const stop = async (n: NodeName): Promise<void> => {
    const p = procs.get(n);
    if (p === undefined || p.exitStatus !== null) return;
    p.kill("SIGTERM");
    await Promise.race([p.exited, new Promise((r) => setTimeout(r, 15_000))]);
    if (p.exitStatus === null) {
      p.kill("SIGKILL");
      await p.exited;
    }
  };
  const pair: VigilPair = {
    folder,
    data: (n) => join(dir, `${n}-data`),
    stateDir,
    pid,
    output: (n) => procs.get(n)?.output() ?? "",
    async start(n) {
      mkdirSync(stateDir(n), { recursive: true });
      const p = host(n).spawn([
        "unshare", "-m", "--propagation", "private", "sh", "-c",
        `mount --bind ${join(dir, `${n}-data`)} ${folder} && exec ${bin} run --config ${config} --node ${n} --state-dir ${stateDir(n)} --log-format json --listen 127.0.0.1:0`,
      ], { logName: `vigil-${n}` });
      procs.set(n, p);
      await p.waitFor(/"msg":"vigil started"/, 20_000);
    },
    stop,
    module,
    waitModule,
    async waitSync(timeoutMs = 60_000) {
      await waitModule("h1", (x) => (x.state === "PRIM" || x.state === "ALONE") && x.mirror?.writes === "replicate" && (x.mirror.resync === null || x.mirror.resync.phase === "done"), "h1 runs the module and replicates", timeoutMs);
      await waitModule("h2", (x) => x.state === "SECOND" && x.mirror?.data === "uptodate" && x.mirror.link === "up", "h2 is an up-to-date SECOND", timeoutMs);
    },
    async waitAlone(timeoutMs = 30_000) {
      await waitModule("h1", (x) => x.mirror?.writes === "alone", "h1 runs alone", timeoutMs);
    },
    async stopAll() {
      // The runner first, so nothing it writes waits on a standby that is already gone.
      await stop("h1");
      await stop("h2");
    },
  };
  await Promise.all([pair.start("h1"), pair.start("h2")]);
  return pair;
}
