/**
 * GlusterFS replica 2 on the two lab hosts, for bench/mirror.ts (recipe:
 * RECIPES.md section 6). Each glusterd runs in its host's network namespace
 * plus a private mount and UTS namespace with its own state, log and /run;
 * the volume's bricks sit in DIR/brick-hN; the FUSE client runs on h1 in a
 * private mount namespace of its own, where the workloads enter it.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Lab, type LabHost, type LabProcess, waitUntil } from "../test/lab/lab.ts";
import { runCommand } from "../test/lab/exec.ts";

export const VOLUME = "bench";

export interface GlusterPair {
  /** The client's mount point (inside the client's mount namespace). */
  readonly mount: string;
  /** PID of the client process (enter its namespaces to use the mount). */
  readonly clientPid: number;
  brick(n: "h1" | "h2"): string;
  version: string;
  stop(): Promise<void>;
}

async function must(argv: string[], what: string, timeoutMs = 60_000): Promise<string> {
  const r = await runCommand(argv, { timeoutMs });
  if (r.code !== 0) throw new Error(`${what}: \`${argv.join(" ")}\` exited ${String(r.code)}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** Processes gluster daemonized under a private /run: their pid files. */
function pidFiles(run: string): number[] {
  const out: number[] = [];
  const walk = (d: string): void => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".pid")) {
        const n = Number(readFileSync(p, "utf8").trim());
        if (Number.isInteger(n) && n > 1) out.push(n);
      }
    }
  };
  walk(run);
  return out;
}

export async function startGlusterPair(lab: Lab, dir: string): Promise<GlusterPair> {
  const hosts = [lab.host("h1"), lab.host("h2")] as const;
  mkdirSync(dir, { recursive: true });
  const hostsFile = join(dir, "hosts");
  writeFileSync(hostsFile, `127.0.0.1 localhost\n${hosts.map((h) => `${h.addr(1)} g${h.name}`).join("\n")}\n`);
  const glusterd = new Map<string, LabProcess>();
  const start = (h: LabHost): LabProcess => {
    const base = join(dir, `gd-${h.name}`);
    for (const s of ["state", "log", "run"]) mkdirSync(join(base, s), { recursive: true });
    for (const s of ["groups", "hooks"]) {
      if (existsSync(`/var/lib/glusterd/${s}`)) cpSync(`/var/lib/glusterd/${s}`, join(base, "state", s), { recursive: true });
    }
    mkdirSync(join(dir, `brick-${h.name}`), { recursive: true });
    const p = h.spawn([
      "unshare", "-m", "-u", "--propagation", "private", "sh", "-c",
      [
        `hostname g${h.name}`,
        `mount --bind ${join(base, "state")} /var/lib/glusterd`,
        `mount --bind ${join(base, "log")} /var/log/glusterfs`,
        `mount --bind ${join(base, "run")} /run`,
        `mount --bind ${hostsFile} /etc/hosts`,
        "exec glusterd -N",
      ].join(" && "),
    ], { logName: `glusterd-${h.name}` });
    glusterd.set(h.name, p);
    return p;
  };
  const [g1, g2] = [start(hosts[0]), start(hosts[1])];
  const cli = (p: LabProcess, args: string[], what: string) => must(["nsenter", "-t", String(p.pid), "-m", "-n", "gluster", "--mode=script", ...args], what);
  let client: LabProcess | undefined;
  const mount = join(dir, "gmnt");
  mkdirSync(mount, { recursive: true });

  const stop = async (): Promise<void> => {
    if (client !== undefined && client.exitStatus === null) await client.stop(3_000);
    if (glusterd.size > 0) {
      try {
        await cli(g1, ["volume", "stop", VOLUME, "force"], "gluster volume stop");
      } catch {
        // Not started, or glusterd gone: the processes are ended below anyway.
      }
    }
    for (const h of hosts) {
      for (const pid of pidFiles(join(dir, `gd-${h.name}`, "run"))) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }
    for (const p of glusterd.values()) if (p.exitStatus === null) await p.stop(3_000);
  };

  try {
    const version = (await must(["gluster", "--version"], "gluster --version")).split("\n")[0]?.trim() ?? "glusterfs";
    await waitUntil(async () => {
      const r = await runCommand(["nsenter", "-t", String(g1.pid), "-m", "-n", "gluster", "--mode=script", "peer", "status"], { timeoutMs: 10_000 });
      return r.code === 0;
    }, { timeoutMs: 30_000, what: "glusterd on h1 to answer", intervalMs: 300 });
    await waitUntil(async () => {
      const r = await runCommand(["nsenter", "-t", String(g2.pid), "-m", "-n", "gluster", "--mode=script", "peer", "status"], { timeoutMs: 10_000 });
      return r.code === 0;
    }, { timeoutMs: 30_000, what: "glusterd on h2 to answer", intervalMs: 300 });
    await cli(g1, ["peer", "probe", hosts[1].addr(1)], "gluster peer probe");
    await waitUntil(async () => /Peer in Cluster \(Connected\)/.test(await cli(g1, ["peer", "status"], "gluster peer status")), { timeoutMs: 30_000, what: "gluster peers to connect", intervalMs: 300 });
    await cli(g1, ["volume", "create", VOLUME, "replica", "2", `${hosts[0].addr(1)}:${join(dir, "brick-h1")}`, `${hosts[1].addr(1)}:${join(dir, "brick-h2")}`, "force"], "gluster volume create");
    await cli(g1, ["volume", "start", VOLUME], "gluster volume start");
    client = hosts[0].spawn([
      "unshare", "-m", "--propagation", "private", "sh", "-c",
      `exec glusterfs -N --log-file=${join(dir, "client.log")} --volfile-server=${hosts[0].addr(1)} --volfile-id=${VOLUME} ${mount}`,
    ], { logName: "glusterfs-client" });
    const c = client;
    await waitUntil(() => {
      if (c.exitStatus !== null) throw new Error(`the GlusterFS client exited: ${c.output().slice(-500)}; see ${join(dir, "client.log")}`);
      try {
        return readFileSync(`/proc/${c.pid}/mounts`, "utf8").split("\n").some((l) => l.split(" ")[1] === mount && l.includes("fuse.glusterfs"));
      } catch {
        return false;
      }
    }, { timeoutMs: 30_000, what: "the GlusterFS client mount", intervalMs: 200 });
    // The mount answers once both bricks are connected.
    await must(["nsenter", "-t", String(c.pid), "-m", "-n", "sh", "-c", `touch ${mount}/.ready && rm ${mount}/.ready`], "a first write through the GlusterFS mount");
    return { mount, clientPid: c.pid, brick: (n) => join(dir, `brick-${n}`), version, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
