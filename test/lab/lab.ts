/**
 * The network lab: N hosts on one or two switched links, each host its own
 * network namespace, for tests that need a real kernel (run as root).
 *
 *   const lab = await createLab({ hosts: 3, links: 2 });
 *   const [h1, h2] = lab.hosts;
 *   await h1.exec(["ping", "-c", "1", "-W", "1", h2.addr(2)], { check: true });
 *   const d = h2.spawn(["dist/vigil", "run", "--config", cfg], { logName: "vigil" });
 *   await d.waitFor(/ready/, 10_000);
 *   await lab.linkDown(h2, { link: 1 });
 *   await lab.destroy();
 *
 * Layout (see names.ts): namespace `<run>-sw` holds bridge br1 (198.51.100.0/24)
 * and, with two links, br2 (203.0.113.0/24); host i lives in `<run>-h<i>` with
 * eth0 = 198.51.100.(10+i)/24 and eth1 = 203.0.113.(10+i)/24, loopback up and
 * no default route. Process logs go to test-artifacts/lab/<run>/.
 *
 * destroy() kills every process the lab started (by recorded PID and process
 * group, then anything else left inside its namespaces), then deletes the
 * namespaces. It is idempotent, and also runs from process exit and
 * SIGINT/SIGTERM/SIGHUP as a last resort. In vitest, prefer useLab() or
 * createTestLab() from lab-test.ts, which also hook it to the test's end.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { nsArgv, runCommand, type ExecOptions, type ExecResult } from "./exec.ts";
import { guard } from "./exit-guard.ts";
import { LabError } from "./errors.ts";
import { applyNetem, clearNetem, setLink, type FaultTarget, type Side } from "./faults.ts";
import { LINK_SUBNETS, MAX_HOSTS, hostAddr, hostIf, hostName, hostNs, linksUpTo, newRunId, switchNs, type LinkNo } from "./names.ts";
import { spawnInNs, type LabProcess, type SpawnOptions } from "./process.ts";
import { netnsInode, pidsInNetns, signalPid, signalTree } from "./procfs.ts";
import { removeRecord, writeRecord } from "./registry.ts";
import { build, listNamespaces, namespacesOf, removeNamespaces, removeNamespacesSync } from "./topology.ts";
import { sleep } from "./wait.ts";

export type { ExecOptions, ExecResult } from "./exec.ts";
export type { ExitStatus, LabProcess, SpawnOptions } from "./process.ts";
export type { LinkNo } from "./names.ts";
export type { Side } from "./faults.ts";
export { LabCommandError, LabError, LabUnsupportedError } from "./errors.ts";
export { waitUntil, WaitTimeout } from "./wait.ts";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const ARTIFACTS_DIR = join(REPO_ROOT, "test-artifacts", "lab");

export interface LabOptions {
  hosts: number;
  /** Number of links (bridges); default 1. */
  links?: LinkNo;
  /** SIGTERM grace before SIGKILL at destroy; default 500 ms. */
  graceMs?: number;
}

/** A namespace one can run things in: a host, or the switch. */
export interface LabNode {
  /** "h1".."hN", or "switch". */
  readonly name: string;
  readonly ns: string;
  /** Runs a command to completion in this namespace. */
  exec(cmd: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Starts a long-running command in this namespace; the lab kills it at destroy. */
  spawn(cmd: readonly string[], opts?: SpawnOptions): LabProcess;
}

export interface LabHost extends LabNode {
  /** 1-based. */
  readonly index: number;
  /** The host's address on each link, link 1 first, without prefix length. */
  readonly addrs: readonly string[];
  /** Address on a link (default 1). */
  addr(link?: LinkNo): string;
  /** Address with its /24, as `ip addr` wants it. */
  cidr(link?: LinkNo): string;
  /** Interface name on a link: eth0 for link 1, eth1 for link 2. */
  ifname(link?: LinkNo): string;
}

export interface FaultOptions {
  /** Which link; default every link of the host. */
  link?: LinkNo;
}

export interface Lab {
  readonly run: string;
  readonly links: readonly LinkNo[];
  readonly hosts: readonly LabHost[];
  /** The namespace holding the bridges (br1, br2), e.g. for tcpdump on a whole link. */
  readonly switch: LabNode;
  /** Where process logs go. */
  readonly dir: string;
  readonly destroyed: boolean;
  /** Host by name ("h2") or 1-based index. */
  host(ref: string | number): LabHost;
  /** Every namespace this lab made, switch first. */
  namespaces(): string[];
  /** PIDs of processes the lab started that have not exited yet. */
  pids(): number[];
  /** Takes a cable down. Default side "bridge": the switch port, as if unplugged; the host keeps its config. */
  linkDown(host: LabHost | string, opts?: FaultOptions & { side?: Side }): Promise<void>;
  /** Default side "both", so it undoes a down at either end. */
  linkUp(host: LabHost | string, opts?: FaultOptions & { side?: Side }): Promise<void>;
  /**
   * tc netem spec such as "loss 100%" or "delay 50ms 10ms". Default side "host":
   * traffic the host sends; "bridge" is traffic sent to it. Without sch_netem in
   * the kernel only "loss N%" works (emulated); other specs throw LabUnsupportedError.
   */
  netem(host: LabHost | string, spec: string, opts?: FaultOptions & { side?: Side }): Promise<void>;
  /** Removes every impairment from the host's links (both sides). */
  clearNetem(host: LabHost | string, opts?: FaultOptions): Promise<void>;
  /** Kills everything the lab started and deletes its namespaces. Idempotent. */
  destroy(): Promise<void>;
}

interface Tracked {
  pid: number;
  done: Promise<void>;
  exited: boolean;
}

export async function createLab(opts: LabOptions): Promise<Lab> {
  const { hosts: nHosts, links: nLinks = 1, graceMs = 500 } = opts;
  if (!Number.isInteger(nHosts) || nHosts < 1 || nHosts > MAX_HOSTS) {
    throw new LabError(`createLab: hosts must be an integer from 1 to ${MAX_HOSTS}, got ${nHosts}`);
  }
  if (nLinks !== 1 && nLinks !== 2) throw new LabError(`createLab: links must be 1 or 2, got ${String(nLinks)}`);
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new LabError("createLab: the network lab needs root (network namespaces, veth, bridges)");
  }

  // A fresh id whose names nobody uses: then every `<run>-*` namespace is ours.
  const existing = await listNamespaces();
  let run = newRunId();
  while (existing.some((ns) => ns.startsWith(`${run}-`))) run = newRunId();

  const shape = { run, hosts: nHosts, links: nLinks };
  const allNs = namespacesOf(shape);
  const links = linksUpTo(nLinks);
  const dir = join(ARTIFACTS_DIR, run);
  mkdirSync(dir, { recursive: true });

  const tracked = new Map<number, Tracked>();
  const logNames = new Set<string>();
  let destroyed = false;
  let destroying: Promise<void> | null = null;

  const track = (child: ChildProcess): void => {
    if (child.pid === undefined) return;
    let markExited = (): void => {};
    const t: Tracked = { pid: child.pid, exited: false, done: new Promise<void>((r) => (markExited = r)) };
    const finish = (): void => {
      t.exited = true;
      markExited();
    };
    child.on("exit", finish);
    child.on("error", finish);
    tracked.set(child.pid, t);
  };
  const live = (): Tracked[] => [...tracked.values()].filter((t) => !t.exited);
  const ensureUp = (what: string): void => {
    if (destroyed || destroying) throw new LabError(`lab ${run} is destroyed; cannot ${what}`);
  };
  const uniqueLog = (node: string, cmd: readonly string[], wanted: string | undefined): string => {
    const stem = `${node}-${(wanted ?? basename(cmd[0] ?? "proc")).replace(/[^\w.-]+/g, "_")}`;
    let name = stem;
    for (let i = 2; logNames.has(name); i++) name = `${stem}-${i}`;
    logNames.add(name);
    return join(dir, `${name}.log`);
  };

  const makeNode = (name: string, ns: string): LabNode => ({
    name,
    ns,
    async exec(cmd, execOpts = {}) {
      ensureUp(`run ${cmd[0] ?? "a command"} in ${ns}`);
      return runCommand(nsArgv(ns, cmd), execOpts, ns, track);
    },
    spawn(cmd, spawnOpts = {}) {
      ensureUp(`start ${cmd[0] ?? "a command"} in ${ns}`);
      return spawnInNs(ns, cmd, uniqueLog(name, cmd, spawnOpts.logName), spawnOpts, track);
    },
  });

  const hostList: LabHost[] = Array.from({ length: nHosts }, (_, i) => {
    const index = i + 1;
    const node = makeNode(hostName(index), hostNs(run, index));
    const checkLink = (link: LinkNo): LinkNo => {
      if (!links.includes(link)) throw new LabError(`lab ${run} has no link ${link} (it has ${nLinks})`);
      return link;
    };
    return {
      ...node,
      index,
      addrs: links.map((l) => hostAddr(index, l)),
      addr: (link = 1) => hostAddr(index, checkLink(link)),
      cidr: (link = 1) => `${hostAddr(index, checkLink(link))}/24`,
      ifname: (link = 1) => hostIf(checkLink(link)),
    };
  });

  const resolveHost = (ref: LabHost | string | number): LabHost => {
    const h =
      typeof ref === "object" ? hostList.find((x) => x.ns === ref.ns) : typeof ref === "number" ? hostList[ref - 1] : hostList.find((x) => x.name === ref);
    if (!h) throw new LabError(`lab ${run} has no host ${typeof ref === "object" ? ref.name : String(ref)} (hosts: ${hostList.map((x) => x.name).join(", ")})`);
    return h;
  };
  const target = (ref: LabHost | string, o: FaultOptions): FaultTarget => {
    const h = resolveHost(ref);
    if (o.link !== undefined && !links.includes(o.link)) throw new LabError(`lab ${run} has no link ${o.link} (it has ${nLinks})`);
    return { run, host: h.index, links: o.link === undefined ? links : [o.link] };
  };

  /** Kills whatever still runs inside the lab's namespaces, also what our process groups missed. */
  const sweepNamespaces = (): number => {
    const inodes = new Set(allNs.map(netnsInode).filter((x): x is number => x !== null));
    const pids = pidsInNetns(inodes);
    for (const pid of pids) signalPid(pid, "SIGKILL");
    return pids.length;
  };

  const destroySync = (): void => {
    destroyed = true;
    for (const t of live()) signalTree(t.pid, "SIGKILL");
    sweepNamespaces();
    removeNamespacesSync(allNs);
    removeRecord(run);
  };

  const unguard = guard({ destroySync });

  const destroyAsync = async (): Promise<void> => {
    const running = live();
    for (const t of running) {
      signalTree(t.pid, "SIGTERM");
      signalTree(t.pid, "SIGCONT"); // a frozen process cannot act on SIGTERM
    }
    await Promise.race([Promise.all(running.map((t) => t.done)), sleep(graceMs)]);
    for (const t of live()) signalTree(t.pid, "SIGKILL");
    // Some process may have escaped its group (setsid): find it by namespace.
    for (let i = 0; i < 20 && sweepNamespaces() > 0; i++) await sleep(50);
    await Promise.race([Promise.all(running.map((t) => t.done)), sleep(5_000)]);
    await removeNamespaces(allNs);
    const left = (await listNamespaces()).filter((ns) => allNs.includes(ns));
    if (left.length > 0) throw new LabError(`lab ${run}: could not delete namespaces ${left.join(", ")}`);
    removeRecord(run);
    destroyed = true;
    unguard();
  };

  const lab: Lab = {
    run,
    links,
    hosts: hostList,
    switch: makeNode("switch", switchNs(run)),
    dir,
    get destroyed() {
      return destroyed;
    },
    host: resolveHost,
    namespaces: () => [...allNs],
    pids: () => live().map((t) => t.pid),
    async linkDown(h, o = {}) {
      ensureUp("take a link down");
      await setLink(target(h, o), "down", o.side ?? "bridge");
    },
    async linkUp(h, o = {}) {
      ensureUp("bring a link up");
      await setLink(target(h, o), "up", o.side ?? "both");
    },
    async netem(h, spec, o = {}) {
      ensureUp("apply netem");
      await applyNetem(target(h, o), spec, o.side ?? "host");
    },
    async clearNetem(h, o = {}) {
      ensureUp("clear netem");
      await clearNetem(target(h, o));
    },
    destroy() {
      if (destroyed) return Promise.resolve();
      destroying ??= destroyAsync().finally(() => {
        destroying = null;
      });
      return destroying;
    },
  };

  writeRecord({ run, hosts: nHosts, links: nLinks, namespaces: allNs });
  try {
    await build(shape);
  } catch (e) {
    await lab.destroy().catch(() => destroySync());
    unguard();
    const why = e instanceof Error ? e.message : String(e);
    throw new LabError(`could not build lab ${run} (${nHosts} hosts, ${nLinks} link(s) on ${links.map((l) => `${LINK_SUBNETS[l]}.0/24`).join(", ")}): ${why}`);
  }
  return lab;
}

/** Creates a lab, runs `fn`, and destroys the lab whatever `fn` does. */
export async function withLab<T>(opts: LabOptions, fn: (lab: Lab) => Promise<T>): Promise<T> {
  const lab = await createLab(opts);
  try {
    return await fn(lab);
  } finally {
    await lab.destroy();
  }
}
