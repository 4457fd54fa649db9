/**
 * The lab proves itself: topology, isolation, faults, process control, and
 * above all that it leaves nothing behind, also when a test fails, times out
 * or its process is told to stop.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, test } from "vitest";
import { ARTIFACTS_DIR, createLab, LabError, LabUnsupportedError, REPO_ROOT, waitUntil, WaitTimeout, withLab, type Lab, type LabHost } from "./lab.ts";
import { describeLab, labGate, labTest, missingToolMessage, missingToolsMessage, requireTools, ROOT_REQUIRED, useLab } from "./lab-test.ts";
import { bridgeIf, hostIf, hostNs, isRunId, newRunId, portIf, REGISTRY_DIR, switchNs } from "./names.ts";
import { procState } from "./procfs.ts";
import { runForOutput } from "./exec.ts";

const ping = (from: LabHost, to: string) => from.exec(["ping", "-c", "1", "-W", "1", "-q", to]);
const reachable = async (from: LabHost, to: string) => (await ping(from, to)).code === 0;

/** Child vitest runs print without colour codes, so their output can be matched. */
const PLAIN_OUTPUT = { NO_COLOR: "1", FORCE_COLOR: "0" };

const listNs = (): string[] =>
  spawnSync("ip", ["netns", "list"], { encoding: "utf8" })
    .stdout.split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter(Boolean);

/** Asserts that nothing of run `run` exists any more: namespaces, record, processes. */
async function expectGone(run: string, pids: readonly number[]): Promise<void> {
  expect(listNs().filter((ns) => ns.startsWith(`${run}-`))).toEqual([]);
  expect(existsSync(join(REGISTRY_DIR, run))).toBe(false);
  // An orphan is reaped by init a moment after its death; only wait for that.
  await waitUntil(() => pids.every((p) => procState(p) === null), { timeoutMs: 5_000, what: `PIDs ${pids.join(", ")} to be gone` });
  // Lab interfaces only ever exist inside lab namespaces; none may show up in the root namespace.
  const rootLinks = spawnSync("ip", ["-o", "link"], { encoding: "utf8" }).stdout;
  expect(rootLinks).not.toMatch(/^\d+: h\d+l[12][@:]/m);
}

describe("lab gate and names (no root needed)", () => {
  test("root runs lab tests; others skip them, but fail under CI=true", () => {
    expect(labGate({ uid: 0, ci: "true" })).toBe("run");
    expect(labGate({ uid: 0, ci: undefined })).toBe("run");
    expect(labGate({ uid: 1000, ci: undefined })).toBe("skip");
    expect(labGate({ uid: 1000, ci: "false" })).toBe("skip");
    expect(labGate({ uid: 1000, ci: "true" })).toBe("fail");
    expect(labGate({ uid: null, ci: "1" })).toBe("fail");
    expect(ROOT_REQUIRED).toBe("lab tests need root; CI must run as root");
  });

  test("a missing tool is named together with its Debian package", () => {
    expect(missingToolsMessage(["ip", "tc", "ping"])).toBe("");
    expect(missingToolsMessage(["vigil-no-such-tool"])).toBe('missing host tool "vigil-no-such-tool": install the Debian package that provides it');
    expect(missingToolMessage("tc")).toBe('missing host tool "tc": install the Debian package iproute2 (apt-get install iproute2)');
    expect(missingToolMessage("ping")).toMatch(/iputils-ping/);
    expect(missingToolMessage("nft")).toMatch(/nftables/);
    expect(() => requireTools("ip", "vigil-no-such-tool")).toThrow(/"vigil-no-such-tool"/);
  });

  test("a command run for its output that outlives its time is killed and says so; one that ends gives its code and output", async () => {
    const slow = await runForOutput(["sh", "-c", "echo started; echo partial >&2; exec sleep 30"], 300);
    expect(slow.code).toBe(1);
    expect(slow.stdout).toBe("started\n");
    expect(slow.stderr).toBe("partial\n[sh -c gave no answer within 300 ms and was killed]");
    const quick = await runForOutput(["sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(quick).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
  });

  test("names follow the scheme and every interface name fits in 15 characters", () => {
    const run = newRunId();
    expect(isRunId(run)).toBe(true);
    expect(switchNs(run)).toBe(`${run}-sw`);
    expect(hostNs(run, 40)).toBe(`${run}-h40`);
    for (const name of [hostIf(2), bridgeIf(2), portIf(40, 2)]) expect(name.length).toBeLessThanOrEqual(15);
  });
});

describeLab("a 3-host, 2-link lab", () => {
  const lab = useLab({ hosts: 3, links: 2 });
  const h = (i: number): LabHost => lab().host(i);

  labTest("each host has its addresses on eth0/eth1, loopback up, and the switch holds the bridges", async () => {
    for (const host of lab().hosts) {
      const r = await host.exec(["ip", "-j", "addr", "show"], { check: true });
      const ifs = JSON.parse(r.stdout) as { ifname: string; operstate: string; flags: string[]; addr_info: { family: string; local: string; prefixlen: number }[] }[];
      const v4 = (n: string) => ifs.find((i) => i.ifname === n)?.addr_info.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`);
      expect(v4("eth0")).toEqual([`198.51.100.${10 + host.index}/24`]);
      expect(v4("eth1")).toEqual([`203.0.113.${10 + host.index}/24`]);
      expect(v4("lo")).toEqual(["127.0.0.1/8"]);
      expect(ifs.find((i) => i.ifname === "lo")?.flags).toContain("UP");
      expect(host.addrs).toEqual([`198.51.100.${10 + host.index}`, `203.0.113.${10 + host.index}`]);
      expect(host.cidr(2)).toBe(`203.0.113.${10 + host.index}/24`);
    }
    const sw = await lab().switch.exec(["ip", "-o", "link", "show", "type", "bridge"], { check: true });
    expect(sw.stdout).toMatch(/: br1:/);
    expect(sw.stdout).toMatch(/: br2:/);
    expect(() => h(1).addr(3 as 1)).toThrow(LabError);
  });

  labTest("hosts reach each other on both links", async () => {
    for (const [a, b] of [
      [1, 2],
      [1, 3],
      [2, 3],
    ] as const) {
      for (const link of [1, 2] as const) {
        const r = await ping(h(a), h(b).addr(link));
        expect(r.code, `h${a} -> h${b} on link ${link}: ${r.stdout}${r.stderr}`).toBe(0);
      }
    }
  });

  labTest("there is no default route, so nothing can leave the lab", async () => {
    for (const host of lab().hosts) {
      expect((await host.exec(["ip", "-4", "route", "show", "default"], { check: true })).stdout.trim()).toBe("");
      expect((await host.exec(["ip", "-6", "route", "show", "default"], { check: true })).stdout.trim()).toBe("");
      const routes = (await host.exec(["ip", "-4", "route", "show"], { check: true })).stdout.trim().split("\n");
      expect(routes.map((r) => r.split(" ")[0]).sort()).toEqual(["198.51.100.0/24", "203.0.113.0/24"]);
      // A route lookup only; nothing is sent.
      const get = await host.exec(["ip", "route", "get", "192.0.2.1"]);
      expect(get.code).not.toBe(0);
      expect(get.stderr).toMatch(/unreachable/i);
    }
  });

  labTest("a cable pulled at the switch cuts that link only, and plugging it back restores it", async () => {
    await lab().linkDown(h(2), { link: 1 });
    try {
      expect(await reachable(h(1), h(2).addr(1))).toBe(false);
      expect(await reachable(h(1), h(2).addr(2))).toBe(true);
      expect(await reachable(h(1), h(3).addr(1))).toBe(true);
      // The host keeps its configuration but sees no carrier.
      const link = (await h(2).exec(["ip", "-o", "link", "show", "eth0"], { check: true })).stdout;
      expect(link).toMatch(/NO-CARRIER/);
    } finally {
      await lab().linkUp(h(2), { link: 1 });
    }
    expect(await reachable(h(1), h(2).addr(1))).toBe(true);
  });

  labTest("a host-side link down also cuts only that link", async () => {
    await lab().linkDown("h3", { link: 2, side: "host" });
    try {
      expect((await h(3).exec(["ip", "-o", "link", "show", "eth1"], { check: true })).stdout).toMatch(/state DOWN/);
      expect(await reachable(h(1), h(3).addr(2))).toBe(false);
      expect(await reachable(h(1), h(3).addr(1))).toBe(true);
    } finally {
      await lab().linkUp("h3", { link: 2 });
    }
    expect(await reachable(h(1), h(3).addr(2))).toBe(true);
  });

  labTest("netem loss 100% blocks a host on every link, and clearing it restores", async () => {
    await lab().netem(h(3), "loss 100%");
    try {
      expect(await reachable(h(1), h(3).addr(1))).toBe(false);
      expect(await reachable(h(1), h(3).addr(2))).toBe(false);
      expect(await reachable(h(1), h(2).addr(1))).toBe(true);
    } finally {
      await lab().clearNetem(h(3));
    }
    expect(await reachable(h(1), h(3).addr(1))).toBe(true);
    expect(await reachable(h(1), h(3).addr(2))).toBe(true);
  });

  labTest("loss toward a host (bridge side) on one link blocks that link only", async () => {
    await lab().netem(h(2), "loss 100%", { link: 2, side: "bridge" });
    try {
      expect(await reachable(h(1), h(2).addr(2))).toBe(false);
      expect(await reachable(h(1), h(2).addr(1))).toBe(true);
    } finally {
      await lab().clearNetem(h(2));
    }
    expect(await reachable(h(1), h(2).addr(2))).toBe(true);
  });

  labTest("netem delay works where the kernel has sch_netem, and is refused clearly where it does not", async () => {
    const probe = await h(1).exec(["tc", "qdisc", "replace", "dev", "lo", "root", "netem", "delay", "1ms"]);
    const kernelHasNetem = probe.code === 0;
    if (kernelHasNetem) await h(1).exec(["tc", "qdisc", "del", "dev", "lo", "root"], { check: true });
    const applying = lab().netem(h(1), "delay 20ms", { link: 1 });
    try {
      if (kernelHasNetem) {
        await applying;
        expect((await h(1).exec(["tc", "qdisc", "show", "dev", "eth0"], { check: true })).stdout).toMatch(/netem .*delay 20ms/);
      } else {
        await expect(applying).rejects.toThrow(LabUnsupportedError);
        await expect(lab().netem(h(1), "delay 20ms")).rejects.toThrow(/CONFIG_NET_SCH_NETEM/);
      }
    } finally {
      await lab().clearNetem(h(1));
    }
    expect((await h(1).exec(["tc", "qdisc", "show", "dev", "eth0"], { check: true })).stdout).not.toMatch(/netem/);
  });

  labTest("a spawned process runs inside its host; SIGSTOP, SIGCONT and SIGKILL act on it", async () => {
    const p = h(1).spawn(["sleep", "300"]);
    await p.waitFor(() => procState(p.pid) === "S", 5_000);
    expect(readFileSync(`/proc/${p.pid}/comm`, "utf8").trim()).toBe("sleep");
    expect(readlinkSync(`/proc/${p.pid}/ns/net`)).toBe(`net:[${statSync(`/run/netns/${h(1).ns}`).ino}]`);
    expect(lab().pids()).toContain(p.pid);
    p.kill("SIGSTOP");
    await p.waitFor(() => p.state() === "T", 5_000);
    p.kill("SIGCONT");
    await p.waitFor(() => p.state() === "S", 5_000);
    p.kill("SIGKILL");
    expect(await p.exited).toEqual({ code: null, signal: "SIGKILL" });
    expect(procState(p.pid)).toBe(null);
    expect(p.state()).toBe(null);
    expect(lab().pids()).not.toContain(p.pid);
  });

  labTest("output goes to a log under test-artifacts, stdin reaches the process, waitFor reports early exits", async () => {
    const p = h(2).spawn(["sh", "-c", 'echo "ready on $(hostname -I)"; read line; echo "got $line" >&2; exit 3'], { logName: "echo" });
    expect(p.log).toBe(join(ARTIFACTS_DIR, lab().run, "h2-echo.log"));
    const m = await p.waitFor(/ready on (\S+)/, 5_000);
    expect(m[1]).toBe("198.51.100.12");
    p.write("hello\n");
    await p.waitFor(/got hello/, 5_000);
    expect(await p.exited).toEqual({ code: 3, signal: null });
    expect(readFileSync(p.log, "utf8")).toContain("got hello");
    await expect(p.waitFor(/never printed/, 5_000)).rejects.toThrow(/exited with code 3 before its log matched/);
    const second = h(2).spawn(["true"], { logName: "echo" });
    expect(second.log).toBe(join(ARTIFACTS_DIR, lab().run, "h2-echo-2.log"));
    await second.exited;
  });

  labTest("waitFor gives up at its deadline with the log's tail", async () => {
    const p = h(3).spawn(["sh", "-c", "echo still starting; sleep 300"]);
    await p.waitFor(/still starting/, 5_000);
    await expect(p.waitFor(/ready/, 200)).rejects.toThrow(WaitTimeout);
    await expect(p.waitFor(/ready/, 200)).rejects.toThrow(/still starting/);
    expect(await p.stop()).toEqual({ code: null, signal: "SIGTERM" });
  });

  labTest("TCP crosses the lab: a server in h2 answers a client in h1", async () => {
    const server = h(2).spawn(["python3", "-m", "http.server", "--bind", h(2).addr(1), "8080"], { logName: "http" });
    const fetch = () =>
      h(1).exec(["python3", "-c", `import urllib.request;print(urllib.request.urlopen("http://${h(2).addr(1)}:8080/",timeout=2).status)`], { timeoutMs: 10_000 });
    await server.waitFor(async () => (await fetch()).stdout.trim() === "200", 20_000);
    await server.waitFor(/"GET \/ HTTP\/1\.1" 200/, 5_000);
    await server.stop();
  });
});

describeLab("cleanup", () => {
  labTest("destroy kills every process (also stubborn, frozen and escaped ones) and removes every namespace; it is idempotent", async () => {
    const lab = await createLab({ hosts: 2, links: 2 });
    const [h1, h2] = lab.hosts as [LabHost, LabHost];
    const plain = h1.spawn(["sleep", "300"]);
    const frozen = h2.spawn(["sleep", "300"]);
    // Ignored signals stay ignored across exec, so the loop and its sleeps all ignore SIGTERM.
    const stubborn = h2.spawn(["bash", "-c", "trap '' TERM; echo armed; while :; do sleep 0.2; done"]);
    // setsid leaves our process group; only the namespace sweep can find it.
    const escaper = h1.spawn(["sh", "-c", "setsid sleep 300 & echo escaped=$!; wait"]);
    const inSwitch = lab.switch.spawn(["sleep", "300"]);
    const hanging = h1.exec(["sleep", "300"]);
    await stubborn.waitFor(/armed/, 5_000);
    const escaped = Number((await escaper.waitFor(/escaped=(\d+)/, 5_000))[1]);
    await frozen.waitFor(() => frozen.state() === "S", 5_000);
    frozen.kill("SIGSTOP");
    await frozen.waitFor(() => frozen.state() === "T", 5_000);
    expect(procState(escaped)).not.toBe(null);
    expect(existsSync(join(REGISTRY_DIR, lab.run))).toBe(true);
    const pids = [plain.pid, frozen.pid, stubborn.pid, escaper.pid, escaped, inSwitch.pid, ...lab.pids()];

    await lab.destroy();
    expect(lab.destroyed).toBe(true);
    expect((await stubborn.exited).signal).toBe("SIGKILL");
    expect((await frozen.exited).signal).not.toBe(null);
    expect((await hanging).code).toBe(null);
    await expectGone(lab.run, pids);

    await lab.destroy(); // idempotent
    expect(() => h1.spawn(["true"])).toThrow(/destroyed/);
    await expect(h1.exec(["true"])).rejects.toThrow(/destroyed/);
    await expect(lab.linkDown(h1)).rejects.toThrow(/destroyed/);
  });

  labTest("withLab cleans up when its body throws", async () => {
    let seen: { run: string; pids: number[] } | undefined;
    const body = async (lab: Lab): Promise<void> => {
      const p = lab.hosts[0]?.spawn(["sleep", "300"]);
      seen = { run: lab.run, pids: p ? [p.pid] : [] };
      throw new Error("test body failed");
    };
    await expect(withLab({ hosts: 2 }, body)).rejects.toThrow("test body failed");
    if (!seen) throw new Error("withLab never ran its body");
    await expectGone(seen.run, seen.pids);
  });

  labTest("failing, timed-out and SIGTERMed vitest runs leave no lab behind; missing tools fail clearly", { timeout: 120_000 }, async () => {
    const dir = join(ARTIFACTS_DIR, `child-${newRunId()}`);
    mkdirSync(dir, { recursive: true });
    const libDir = join(REPO_ROOT, "test", "lab");
    const seen = join(dir, "seen.jsonl");
    writeFileSync(join(dir, "vitest.config.ts"), `export default { test: { include: ["*.test.ts"], testTimeout: 4000, hookTimeout: 30000, pool: "forks", fileParallelism: false } };\n`);
    const note = `
import { appendFileSync } from "node:fs";
export const note = (run: string, pids: number[]) => appendFileSync(${JSON.stringify(seen)}, JSON.stringify({ run, pids }) + "\\n");
`;
    writeFileSync(join(dir, "note.ts"), note);
    writeFileSync(
      join(dir, "a-failing.test.ts"),
      `
import { expect } from "vitest";
import { createTestLab, describeLab, labTest, labTestNeeding, useLab } from ${JSON.stringify(join(libDir, "lab-test.ts"))};
import { note } from "./note.ts";

labTest("throws", async () => {
  const lab = await createTestLab({ hosts: 2 });
  note(lab.run, [lab.hosts[0]!.spawn(["sleep", "300"]).pid]);
  throw new Error("deliberate failure");
});

labTest("times out", async () => {
  const lab = await createTestLab({ hosts: 2, links: 2 });
  note(lab.run, [lab.hosts[1]!.spawn(["sleep", "300"]).pid]);
  await new Promise(() => {});
});

describeLab("suite lab", () => {
  const lab = useLab({ hosts: 2 });
  labTest("fails an assertion", () => {
    note(lab().run, [lab().switch.spawn(["sleep", "300"]).pid]);
    expect(1).toBe(2);
  });
});

labTestNeeding("vigil-missing-tool-a")("needs a tool", () => {});

describeLab("suite needing a tool", () => {
  useLab({ hosts: 1 });
  labTest("never runs", () => {});
}, { tools: ["vigil-missing-tool-b"] });
`,
    );
    const failing = spawnSync(join(REPO_ROOT, "node_modules", ".bin", "vitest"), ["run", "--root", dir, "--config", join(dir, "vitest.config.ts")], {
      cwd: dir,
      encoding: "utf8",
      timeout: 90_000,
      env: { ...process.env, ...PLAIN_OUTPUT, CI: "" },
    });
    const out1 = failing.stdout + failing.stderr;
    expect(failing.status, out1).toBe(1);
    expect(out1).toMatch(/deliberate failure/);
    expect(out1).toMatch(/Test timed out/i);
    expect(out1).toMatch(/5 failed/);
    expect(out1).toMatch(/missing host tool "vigil-missing-tool-a"/);
    expect(out1).toMatch(/suite needing a tool > lab prerequisites/);
    expect(out1).toMatch(/missing host tool "vigil-missing-tool-b"/);

    rmSync(join(dir, "a-failing.test.ts"));
    writeFileSync(
      join(dir, "b-killed.test.ts"),
      `
import { createTestLab, labTest } from ${JSON.stringify(join(libDir, "lab-test.ts"))};
import { note } from "./note.ts";

labTest("is terminated", async () => {
  const lab = await createTestLab({ hosts: 2 });
  note(lab.run, [lab.hosts[0]!.spawn(["sleep", "300"]).pid]);
  process.kill(process.pid, "SIGTERM");
  await new Promise(() => {});
});
`,
    );
    const killed = spawnSync(join(REPO_ROOT, "node_modules", ".bin", "vitest"), ["run", "--root", dir, "--config", join(dir, "vitest.config.ts")], {
      cwd: dir,
      encoding: "utf8",
      timeout: 90_000,
      env: { ...process.env, ...PLAIN_OUTPUT, CI: "" },
    });
    expect(killed.status, killed.stdout + killed.stderr).not.toBe(0);

    const runs = readFileSync(seen, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { run: string; pids: number[] });
    expect(runs).toHaveLength(4);
    for (const r of runs) await expectGone(r.run, r.pids);
    rmSync(dir, { recursive: true, force: true });
  });

  /*
   * The child runs as nobody, which may not enter the folders above the
   * checkout (a clone under /root, or in a `mktemp -d` folder, mode 0700).
   * So it sees the checkout through a bind mount on a world-enterable
   * mount point, in a mount namespace of its own: the mount goes with the
   * child, and nobody reads the very same node_modules and lab helpers, not
   * copies. Only the mount point's folder is left, and removed below.
   */
  labTest("a lab test run without root fails under CI=true and is skipped otherwise", { timeout: 60_000 }, async () => {
    for (const tool of ["setpriv", "unshare"]) {
      if (spawnSync(tool, ["--version"]).status !== 0) throw new Error(`missing host tool "${tool}": install the Debian package util-linux`);
    }
    const mountPoint = mkdtempSync(join(tmpdir(), "vigil-selftest-"));
    chmodSync(mountPoint, 0o755);
    const repo = (path: string) => join(mountPoint, relative(REPO_ROOT, path));
    const dir = join(ARTIFACTS_DIR, `child-${newRunId()}`);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o777 });
      chmodSync(dir, 0o777);
      writeFileSync(join(dir, "vitest.config.ts"), `export default { cacheDir: ${JSON.stringify(join(repo(dir), "cache"))}, test: { include: ["*.test.ts"] } };\n`);
      writeFileSync(
        join(dir, "gate.test.ts"),
        `
import { describeLab, labTest } from ${JSON.stringify(repo(join(REPO_ROOT, "test", "lab", "lab-test.ts")))};
labTest("needs root", () => {});
describeLab("suite needing root", () => { labTest("inner", () => {}); });
`,
      );
      const child = repo(dir);
      const vitest = repo(join(REPO_ROOT, "node_modules", ".bin", "vitest"));
      const asNobody = (ci: string) =>
        spawnSync(
          "unshare",
          [
            "--mount", "--propagation", "private", "--", "sh", "-c", 'mount --bind "$1" "$2" && shift 2 && exec "$@"', "sh", REPO_ROOT, mountPoint,
            "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", vitest, "run", "--root", child, "--config", join(child, "vitest.config.ts"), "--configLoader", "runner",
          ],
          { cwd: "/", encoding: "utf8", timeout: 50_000, env: { ...process.env, ...PLAIN_OUTPUT, CI: ci, HOME: child } },
        );
      const ci = asNobody("true");
      const ciOut = ci.stdout + ci.stderr;
      expect(ci.status, ciOut).toBe(1);
      expect(ciOut).toMatch(/lab tests need root; CI must run as root/);
      expect(ciOut).toMatch(/2 failed/);
      const local = asNobody("");
      const localOut = local.stdout + local.stderr;
      expect(local.status, localOut).toBe(0);
      expect(localOut).toMatch(/2 skipped/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      // Empty unless a mount leaked out of the child's namespace: then rmdir fails and says so.
      rmdirSync(mountPoint);
    }
  });
});

describeLab("scripts/netlab.sh", () => {
  labTest("up 2 then down leaves nothing behind; up is idempotent per name", async () => {
    const script = join(REPO_ROOT, "scripts", "netlab.sh");
    const name = `selftest-${newRunId()}`;
    const sh = (...args: string[]) => spawnSync("bash", [script, ...args], { encoding: "utf8", timeout: 60_000 });
    const up = sh("up", "2", "--name", name);
    expect(up.status, up.stderr).toBe(0);
    const run = /netlab (vl-[0-9a-f]{6}) /.exec(up.stdout)?.[1];
    if (!run) throw new Error(`no run id in: ${up.stdout}`);
    expect(up.stdout).toContain(`ip netns exec ${run}-h1 bash`);
    try {
      expect(listNs().filter((ns) => ns.startsWith(`${run}-`)).sort()).toEqual([`${run}-h1`, `${run}-h2`, `${run}-sw`]);
      const p = spawnSync("ip", ["netns", "exec", `${run}-h1`, "ping", "-c", "1", "-W", "1", "-q", "198.51.100.12"], { encoding: "utf8" });
      expect(p.status, p.stdout + p.stderr).toBe(0);
      expect(spawnSync("ip", ["-n", `${run}-h1`, "route", "show", "default"], { encoding: "utf8" }).stdout.trim()).toBe("");

      const again = sh("up", "2", "--name", name);
      expect(again.status).toBe(0);
      expect(again.stdout).toMatch(new RegExp(`already up[\\s\\S]*netlab ${run} `));
      const clash = sh("up", "3", "--name", name);
      expect(clash.status).toBe(1);
      expect(clash.stderr).toMatch(/is up with 2 host\(s\)/);
      expect(sh("status").stdout).toContain(`netlab ${run} (name ${name})`);

      // A process left running in a host must not survive down.
      const stray = spawnSync("bash", ["-c", `ip netns exec ${run}-h2 sleep 300 >/dev/null 2>&1 & echo $!`], { encoding: "utf8" });
      const strayPid = Number(stray.stdout.trim());
      await waitUntil(() => procState(strayPid) === "S", { timeoutMs: 5_000, what: "the stray sleep" });

      const down = sh("down", name);
      expect(down.status, down.stderr).toBe(0);
      expect(down.stdout).toContain(`removed ${run}`);
      await expectGone(run, [strayPid]);
      const downAgain = sh("down", run);
      expect(downAgain.status).toBe(0);
      expect(downAgain.stdout).toMatch(/nothing to remove/);
    } finally {
      sh("down", run);
    }
  });
});
