/**
 * `vigil import heartbeat DIR`: ha.cf, haresources and authkeys as Heartbeat
 * users publish them (ucast links on two interfaces, IPaddr::addr/prefix/iface
 * with httpd, auto_failback on/off, ping and ping_group, bcast and mcast)
 * become a vigil.yaml the loader accepts; the authkeys secret never appears.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { DaemonEntries } from "../../src/api/daemon-entries.ts";
import { dispatch } from "../../src/cli/dispatch.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { VigilConfig } from "../../src/config/types.ts";
import { ImportError } from "../../src/import/import-error.ts";
import { importConfig } from "../../src/import/import-config.ts";

const FIX = join(__dirname, "..", "fixtures", "import", "heartbeat");
const dir = mkdtempSync(join(tmpdir(), "vigil-import-hb-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(folder: string, addresses = new Map<string, string[]>()): { text: string; config: VigilConfig; warnings: string[] } {
  const r = importConfig("heartbeat", [folder], addresses);
  const loaded = parseConfig(r.text, join(dir, "vigil.yaml"));
  if (!loaded.ok) throw new Error(`${loaded.errors.map((e) => `${e.path}: ${e.found}, expected ${e.expected}`).join("\n")}\n${r.text}`);
  return { text: r.text, config: loaded.config, warnings: r.warnings };
}

/** A Heartbeat folder written from the given files. */
function folder(name: string, files: Record<string, string>): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(d, f), text);
  return d;
}

function importError(d: string): string {
  try {
    importConfig("heartbeat", [d], new Map());
  } catch (e) {
    if (e instanceof ImportError) return e.message;
    throw e;
  }
  throw new Error("no error");
}

describe("a two-node web server: ucast on two links, IPaddr + httpd, auto_failback on, ping", () => {
  const { text, config, warnings } = load(join(FIX, "web-pair"));

  it("nodes with one address per ucast link, Heartbeat's timers and port, the ping node as witness", () => {
    expect(warnings).toEqual([]);
    expect(config.cluster.nodes).toEqual([
      { name: "web1", addresses: ["198.51.100.21", "192.0.2.21"] },
      { name: "web2", addresses: ["198.51.100.22", "192.0.2.22"] },
    ]);
    expect(config.cluster.heartbeat).toMatchObject({ interval: 2000, warntime: 10_000, deadtime: 30_000, initdead: 120_000, port: 694 });
    expect(config.cluster.witness.ping).toEqual(["198.51.100.1"]);
    expect(text).toContain("delete these lines to use it");
  });

  it("each haresources line is a failover module: first node preferred, resources in order, failback auto", () => {
    expect(config.modules.map((m) => m.name)).toEqual(["httpd", "mysql"]);
    expect(config.modules[0]).toMatchObject({
      type: "failover",
      prefer: "web1",
      failback: "auto",
      resources: [{ vip: "198.51.100.80/24", interface: "eth0" }, { service: "httpd" }],
    });
    // IPaddr2 with a dotted netmask and a broadcast; Filesystem and MailTo said, not mapped.
    expect(config.modules[1]).toMatchObject({ resources: [{ vip: "198.51.100.81/24", interface: "eth0" }, { service: "mysql" }] });
    expect(text).toMatch(/haresources:3: Filesystem::\/dev\/sdb1::\/srv\/data::ext4: vigil does not mount shared storage/);
    expect(text).toMatch(/haresources:3: MailTo::ops@example\.com::db: vigil sends no mail/);
    expect(text).toMatch(/haresources:2: httpd: Heartbeat ran \/etc\/ha\.d\/resource\.d\/httpd or \/etc\/init\.d\/httpd/);
  });

  it("the authkeys secret is not copied: the config points at a key made by vigil keygen", () => {
    expect(text).not.toContain("ThisIsTheHeartbeatSecret");
    expect(config.cluster.key_file).toBe(join(dir, "vigil.key"));
    expect(text).toMatch(/authkeys \(.*authkeys:2: method sha1\) is not copied/);
    expect(text).toContain("run `vigil keygen vigil.key` beside this file");
  });

  it("what has no place in vigil is a comment with file:line", () => {
    expect(text).toMatch(/ha\.cf:15: respawn hacluster \/usr\/lib\/heartbeat\/ipfail: vigil runs no helper processes/);
    expect(text).toMatch(/ha\.cf:3: logfile \/var\/log\/ha-log: vigil logs to stderr/);
  });
});

describe("bcast and mcast links, auto_failback off, ping_group, a bare IP, drbddisk", () => {
  const addresses = new Map([["alpha", ["198.51.100.31", "203.0.113.31"]], ["beta", ["198.51.100.32", "203.0.113.32"]]]);
  const { text, config, warnings } = load(join(FIX, "three-links"), addresses);

  it("links in ha.cf's interface order: bcast as unicast (said why), mcast with its group", () => {
    expect(warnings).toEqual([]);
    expect(config.cluster.nodes.map((n) => n.addresses)).toEqual([["198.51.100.31", "203.0.113.31"], ["198.51.100.32", "203.0.113.32"]]);
    expect(config.cluster.heartbeat.links).toEqual([{ mode: "unicast" }, { mode: "multicast", group: "225.0.0.7" }]);
    expect(text).toMatch(/ha\.cf:4: bcast eth1: vigil sends to each peer's address on eth1 \(unicast\)/);
    expect(config.cluster.heartbeat).toMatchObject({ interval: 500, deadtime: 2000, initdead: 10_000, port: 7694 });
  });

  it("ping_group members are ping witnesses; failback manual; a bare address is a /32 VIP on the first link", () => {
    expect(config.cluster.witness.ping).toEqual(["203.0.113.1", "203.0.113.2"]);
    expect(config.modules[0]).toMatchObject({
      name: "named", prefer: "beta", failback: "manual",
      resources: [{ vip: "203.0.113.80/32", interface: "eth1" }, { service: "named" }],
    });
    expect(text).toMatch(/203\.0\.113\.80 has no prefix/);
    expect(config.modules[1]).toMatchObject({ name: "nfs-kernel-server", prefer: "alpha", resources: [{ service: "nfs-kernel-server" }] });
    expect(text).toMatch(/drbddisk::r0: DRBD: a mirror module/);
    expect(text).toMatch(/method md5/);
    expect(text).not.toContain("anothersecret");
    expect(text).not.toMatch(/crm no/);
  });

  it("without --addresses: placeholders, CHANGE comments and warnings, and still a valid config", () => {
    const r = load(join(FIX, "three-links"));
    expect(r.config.cluster.nodes.flatMap((n) => n.addresses)).toEqual(["192.0.2.11", "192.0.2.31", "192.0.2.12", "192.0.2.32"]);
    expect(r.text).toContain("# CHANGE: 192.0.2.11 is a placeholder for alpha's address on eth1");
    expect(r.warnings).toHaveLength(4);
  });
});

describe("through the verb", () => {
  const run = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await dispatch(argv, { out: (t) => out.push(t), err: (t) => err.push(t), env: {} }, {} as DaemonEntries);
    return { code, out: out.join("\n"), err: err.join("\n") };
  };

  it("writes a config that check-config accepts once the key exists", async () => {
    const out = join(dir, "verb", "vigil.yaml");
    mkdirSync(join(dir, "verb"), { recursive: true });
    const r = await run("import", "heartbeat", join(FIX, "web-pair"), "--out", out);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`vigil keygen ${join(dir, "verb", "vigil.key")}`);
    expect((await run("keygen", join(dir, "verb", "vigil.key"))).code).toBe(0);
    const check = await run("check-config", out);
    expect(check.err).toBe("");
    expect(check.code).toBe(0);
    expect(check.out).toContain("cluster heartbeat: web1, web2");
  });

  it("one address per link in --addresses, else a one-line error", async () => {
    const r = await run("import", "heartbeat", join(FIX, "web-pair"), "--addresses", "web1=198.51.100.21");
    expect(r.code).toBe(1);
    expect(r.err).toBe("vigil import heartbeat: --addresses: web1 has 1 address(es); ha.cf has 2 link(s) (eth0, eth1): give one per link, joined by +");
  });

  it("takes exactly one folder", async () => {
    expect((await run("import", "heartbeat", join(FIX, "web-pair"), join(FIX, "three-links"))).code).toBe(2);
  });
});

describe("timers vigil would refuse are adjusted, with a comment", () => {
  it("warntime not below deadtime is left out; deadtime under 2 x keepalive is raised", () => {
    const d = folder("timers", {
      "ha.cf": "keepalive 2\ndeadtime 3\nwarntime 1\ninitdead 1\nucast eth0 198.51.100.51\nucast eth0 198.51.100.52\nnode n1 n2\n",
    });
    const { text, config, warnings } = load(d);
    expect(config.cluster.heartbeat).toMatchObject({ interval: 2000, deadtime: 4000, initdead: 4000 });
    expect(text).toMatch(/ha\.cf:2: deadtime 3: vigil needs deadtime at least 2 x keepalive/);
    expect(text).toMatch(/ha\.cf:3: warntime 1: vigil needs warntime between keepalive and deadtime/);
    expect(warnings).toEqual(["no " + d + "/haresources: no module imported"]);
  });
});

describe("malformed Heartbeat files: file and line", () => {
  it.each([
    ["no ha.cf", {}, /ha\.cf: cannot read ha\.cf: no such file/],
    ["a bad time", { "ha.cf": "node a b\nkeepalive fast\n" }, /ha\.cf:2: keepalive needs a time like 2 \(seconds\) or 500ms, not "fast"/],
    ["ucast without an address", { "ha.cf": "node a b\nucast eth0\n" }, /ha\.cf:2: ucast needs an interface and an IPv4 address/],
    ["no node", { "ha.cf": "keepalive 1\n" }, /ha\.cf: no node lines/],
    ["a bad auto_failback", { "ha.cf": "node a b\nauto_failback maybe\n" }, /ha\.cf:2: auto_failback is on, off or legacy/],
    ["authkeys without auth", { "ha.cf": "node a b\n", authkeys: "1 sha1 x\n" }, /authkeys: no "auth N" line/],
    ["authkeys with an unknown method", { "ha.cf": "node a b\n", authkeys: "auth 1\n1 rot13 x\n" }, /authkeys:2: method "rot13" is not sha1, md5 or crc/],
    ["a continuation at the end", { "ha.cf": "node a b\n", haresources: "a httpd \\" }, /haresources:1: the line ends with '\\' but no line follows it/],
  ])("%s", (name, files, message) => {
    expect(importError(folder(name.replace(/\W+/g, "-"), files))).toMatch(message);
  });
});
