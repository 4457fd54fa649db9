/**
 * `vigil import keepalived`: configs shaped like the ones keepalived users
 * publish (a MASTER/BACKUP pair with unicast peers, track scripts, notify
 * scripts, labelled VIPs, a sync group; a VRRPv3 node with track_process and
 * an include) become a vigil.yaml the loader accepts, with the values in
 * place and a comment for each thing that did not map.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { DaemonEntries } from "../../src/api/daemon-entries.ts";
import { dispatch } from "../../src/cli/dispatch.ts";
import { parseConfig } from "../../src/config/load.ts";
import type { VigilConfig } from "../../src/config/types.ts";
import { ImportError } from "../../src/import/import-error.ts";
import { importConfig } from "../../src/import/import-config.ts";
import { parseKeepalivedText } from "../../src/import/keepalived-parse.ts";
import { scalar } from "../../src/import/yaml-out.ts";

const FIX = join(__dirname, "..", "fixtures", "import", "keepalived");
const fx = (name: string): string => join(FIX, name);
const dir = mkdtempSync(join(tmpdir(), "vigil-import-ka-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(paths: string[], addresses = new Map<string, string[]>()): { text: string; config: VigilConfig; warnings: string[] } {
  const r = importConfig("keepalived", paths, addresses);
  const loaded = parseConfig(r.text, join(dir, "vigil.yaml"));
  if (!loaded.ok) throw new Error(`${loaded.errors.map((e) => `${e.path}: ${e.found}, expected ${e.expected}`).join("\n")}\n${r.text}`);
  return { text: r.text, config: loaded.config, warnings: r.warnings };
}

const importError = (paths: string[]): string => {
  try {
    importConfig("keepalived", paths, new Map());
  } catch (e) {
    if (e instanceof ImportError) return e.message;
    throw e;
  }
  throw new Error("no error");
};

describe("a MASTER/BACKUP pair, one file per node", () => {
  const { text, config } = load([fx("lb1.conf"), fx("lb2.conf")]);
  const ext = config.vrrp.find((v) => v.name === "VI_EXT");
  const int = config.vrrp.find((v) => v.name === "VI_INT");

  it("names the nodes by router_id, at their unicast_src_ip, with a key file to make", () => {
    expect(config.cluster.nodes).toEqual([
      { name: "lb1", addresses: ["198.51.100.11"] },
      { name: "lb2", addresses: ["198.51.100.12"] },
    ]);
    expect(config.cluster.key_file).toBe(join(dir, "vigil.key"));
    expect(text).toContain("run `vigil keygen vigil.key` beside this file");
  });

  it("merges the two files' instances: per-node priorities, the same VIPs, VRRPv2 as keepalived's default", () => {
    expect(config.vrrp.map((v) => v.name)).toEqual(["VI_EXT", "VI_INT"]);
    expect(ext).toMatchObject({ interface: "eth0", vrid: 51, version: 2, advert_int: 1000, priority: { lb1: 150, lb2: 100 } });
    expect(ext?.vips).toEqual(["198.51.100.100/24", "198.51.100.101/24"]);
    expect(text).toMatch(/# .*state MASTER on lb1, BACKUP on lb2: vigil starts every node as BACKUP/);
  });

  it("keeps unicast peers and sources, PASS authentication, and leaves AH out with the reason", () => {
    expect(ext?.unicast_peer).toEqual(["198.51.100.11", "198.51.100.12"]);
    expect(ext?.unicast_src_ip).toEqual({ lb1: "198.51.100.11", lb2: "198.51.100.12" });
    expect(int?.unicast_peer).toEqual(["203.0.113.11", "203.0.113.12"]);
    expect(ext?.authentication).toEqual({ auth_type: "PASS", auth_pass: "s3cr3t" });
    expect(int?.authentication).toBeUndefined();
    expect(text).toMatch(/lb1\.conf:90: authentication: auth_type AH .* not in vigil/);
    expect(text).not.toContain("longsecret");
  });

  it("turns vrrp_script and track_interface into tracks with keepalived's weights", () => {
    expect(ext?.track).toEqual([
      expect.objectContaining({ process: "haproxy", weight: -20 }),
      expect.objectContaining({ script: join(dir, "track-chk_http.sh"), weight: -30, interval: 3000, timeout: 2000, fall: 2, rise: 3 }),
      expect.objectContaining({ script: "/etc/keepalived/check_nginx.sh", weight: 10, interval: 1000 }),
      expect.objectContaining({ interface: "eth0", weight: 0 }),
      expect.objectContaining({ interface: "eth1", weight: -50 }),
    ]);
    expect(text).toContain('put the line "/usr/bin/curl -sf http://127.0.0.1:8080/health" in ./track-chk_http.sh');
    expect(text).toMatch(/"killall -0 haproxy" only asks whether haproxy runs/);
  });

  it("keeps notify scripts (a command with arguments goes to a wrapper, said in a comment), GARP and preempt settings", () => {
    expect(ext?.notify_backup).toBe("/etc/keepalived/notify-backup.sh");
    expect(ext?.notify_fault).toBe("/etc/keepalived/notify-fault.sh");
    expect(ext?.notify).toBe("/etc/keepalived/notify-all.sh");
    expect(ext?.notify_master).toBe(join(dir, "notify-master-VI_EXT.sh"));
    expect(text).toContain('put "/etc/keepalived/notify.sh master" in ./notify-master-VI_EXT.sh');
    expect(ext).toMatchObject({ garp_master_delay: 2000, garp_master_repeat: 3, garp_master_refresh: 60_000, preempt: true });
    expect(int).toMatchObject({ preempt: false, preempt_delay: 30_000 });
  });

  it("puts both members of the vrrp_sync_group in one sync_group", () => {
    expect(ext?.sync_group).toBe("VG_1");
    expect(int?.sync_group).toBe("VG_1");
    expect(text).toMatch(/lb1\.conf:36: notify_master .*notify scripts are per instance in vigil/);
  });

  it("says at its place each thing that did not map: labels, another dev, IPv6, use_vmac, LVS, mail", () => {
    expect(text).toMatch(/lb1\.conf:54: 198\.51\.100\.100\/24 dev eth0 \.\.\.: vigil adds the address without a label/);
    expect(text).toMatch(/lb1\.conf:56: 203\.0\.113\.50\/24 dev eth1: vigil adds an instance's VIPs on its interface \(eth0\), not on eth1: left out/);
    expect(text).toMatch(/lb1\.conf:57: 2001:db8::10\/64: vigil's VRRP is IPv4 only/);
    expect(text).toMatch(/lb1\.conf:97: use_vmac: vigil does not create VRRP virtual MAC/);
    expect(text).toMatch(/lb1\.conf:100: virtual_server 198\.51\.100\.100 80: LVS load balancing is not in vigil/);
    expect(text).toMatch(/lb1\.conf:3: notification_email: vigil sends no mail/);
  });
});

describe("one file alone", () => {
  it("takes the other nodes from unicast_peer, with keepalived's default priority and a comment saying so", () => {
    const { text, config } = load([fx("lb1.conf")]);
    expect(config.cluster.nodes.map((n) => [n.name, n.addresses])).toEqual([["lb1", ["198.51.100.11"]], ["peer1", ["198.51.100.12"]]]);
    expect(config.vrrp[0]?.priority).toEqual({ lb1: 150, peer1: 100 });
    expect(text).toContain("peer1's priority is not in");
  });

  it("VRRPv3, sub-second adverts, track_process and track_file from an included file, no_accept", () => {
    const { text, config, warnings } = load([fx("v3-process.conf")], new Map([["gw1", ["198.51.100.41"]]]));
    expect(config.cluster.nodes).toEqual([{ name: "gw1", addresses: ["198.51.100.41"] }]);
    expect(warnings).toEqual([]);
    const vi = config.vrrp[0];
    expect(vi).toMatchObject({ version: 3, advert_int: 100, priority: { gw1: 120 }, vips: ["192.0.2.100/32"], accept_mode: false, garp_master_delay: 1000 });
    expect(vi?.track).toEqual([
      expect.objectContaining({ process: "nginx", weight: -40 }),
      expect.objectContaining({ file: "/etc/keepalived/maint.prio", weight: 1 }),
    ]);
    expect(vi?.authentication).toBeUndefined();
    expect(text).toMatch(/VRRPv3 has no authentication/);
    expect(text).toMatch(/conf\.d\/tracks\.conf:4: quorum 2: vigil's process track counts processes by name only/);
  });

  it("a node whose address the file does not say gets a placeholder, a CHANGE comment and a warning", () => {
    const { text, config, warnings } = load([fx("v3-process.conf")]);
    expect(config.cluster.nodes[0]?.addresses).toEqual(["192.0.2.11"]);
    expect(text).toContain("# CHANGE: a placeholder");
    expect(warnings.join("\n")).toContain("--addresses gw1=IP");
  });
});

describe("node addresses the files do not all say", () => {
  const conf = (router: string, priority: number, extra: string) =>
    `global_defs {\n  router_id ${router}\n}\nvrrp_instance VI_1 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority ${priority}\n${extra}  virtual_ipaddress {\n    198.51.100.100/24\n  }\n}\n`;

  it("multicast pair: --addresses names them, and no unicast_peer is written", () => {
    const a = join(dir, "mc-a.conf");
    const b = join(dir, "mc-b.conf");
    writeFileSync(a, conf("gw1", 150, ""));
    writeFileSync(b, conf("gw2", 100, ""));
    const { config, warnings } = load([a, b], new Map([["gw1", ["198.51.100.11"]], ["gw2", ["198.51.100.12"]]]));
    expect(warnings).toEqual([]);
    expect(config.cluster.nodes.map((n) => n.addresses[0])).toEqual(["198.51.100.11", "198.51.100.12"]);
    expect(config.vrrp[0]).toMatchObject({ priority: { gw1: 150, gw2: 100 }, unicast_peer: [] });
  });

  it("unicast pair without unicast_src_ip: each node's address is the other's only peer", () => {
    const a = join(dir, "uc-a.conf");
    const b = join(dir, "uc-b.conf");
    writeFileSync(a, conf("gw1", 150, "  unicast_peer {\n    198.51.100.12\n  }\n"));
    writeFileSync(b, conf("gw2", 100, "  unicast_peer {\n    198.51.100.11\n  }\n"));
    const { config, warnings, text } = load([a, b]);
    expect(warnings).toEqual([]);
    expect(config.cluster.nodes.map((n) => n.addresses[0])).toEqual(["198.51.100.11", "198.51.100.12"]);
    expect(config.vrrp[0]?.unicast_peer).toEqual(["198.51.100.12", "198.51.100.11"]);
    expect(text).toContain("from " + b + "'s unicast_peer");
  });

  it("--addresses naming no node is refused", () => {
    expect(() => importConfig("keepalived", [fx("lb1.conf")], new Map([["nobody", ["198.51.100.9"]]]))).toThrow(/--addresses: no node named nobody \(nodes: lb1, peer1\)/);
  });
});

describe("malformed keepalived.conf: file and line", () => {
  it.each([
    ["bad-unclosed.conf", /bad-unclosed\.conf:4: the block of "vrrp_instance VI_1" is never closed/],
    ["bad-quote.conf", /bad-quote\.conf:2: a quoted string is not closed on its line/],
    ["bad-brace.conf", /bad-brace\.conf:4: a '}' with no open block to close/],
    ["bad-novrid.conf", /bad-novrid\.conf:1: vrrp_instance VI_9 has no virtual_router_id/],
  ])("%s", (file, message) => {
    expect(importError([fx(file)])).toMatch(message);
  });

  it("an include that cannot be read names the include line", () => {
    const f = join(dir, "inc.conf");
    writeFileSync(f, "global_defs {\n}\ninclude missing.conf\n");
    expect(importError([f])).toBe(`${f}:3: cannot read the included file ${join(dir, "missing.conf")}: no such file`);
  });

  it("a file that cannot be read says why", () => {
    const missing = join(dir, "no-such.conf");
    expect(importError([missing])).toBe(`${missing}: cannot read this file: no such file`);
    expect(importError([dir])).toBe(`${dir}: cannot read this file: it is a folder`);
  });

  it("a file with no instance", () => {
    expect(() => parseKeepalivedText("global_defs {\n router_id x\n}\n", "x.conf")).not.toThrow();
    const f = join(dir, "empty.conf");
    writeFileSync(f, "! nothing\n");
    expect(importError([f])).toMatch(/no vrrp_instance to import/);
  });
});

describe("the grammar", () => {
  it("braces on the next line or inline, ! and # comments, quoted words with spaces", () => {
    const s = parseKeepalivedText('a x\n{\n  b "one two" # c\n  d { e f } ! g\n}\n', "t.conf");
    expect(s).toHaveLength(1);
    expect(s[0]?.words.map((w) => w.text)).toEqual(["a", "x"]);
    expect(s[0]?.block?.map((b) => b.words.map((w) => w.text))).toEqual([["b", "one two"], ["d"]]);
    expect(s[0]?.block?.[1]?.block?.[0]?.words.map((w) => w.text)).toEqual(["e", "f"]);
    expect(s[0]?.block?.[1]?.block?.[0]?.where).toEqual({ file: "t.conf", line: 4 });
  });

  it("quotes YAML scalars that would read back as something else", () => {
    expect(scalar("12345678")).toBe('"12345678"');
    expect(scalar("yes")).toBe('"yes"');
    expect(scalar("a#b")).toBe('"a#b"');
    expect(scalar("198.51.100.10/24")).toBe("198.51.100.10/24");
    expect(scalar("/etc/keepalived/x.sh")).toBe("/etc/keepalived/x.sh");
  });
});

describe("the verb", () => {
  const daemons = {} as DaemonEntries;
  const run = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await dispatch(argv, { out: (t) => out.push(t), err: (t) => err.push(t), env: {} }, daemons);
    return { code, out: out.join("\n"), err: err.join("\n") };
  };

  it("--out writes the file; keygen and check-config then accept it", async () => {
    const out = join(dir, "cli", "vigil.yaml");
    rmSync(join(dir, "cli"), { recursive: true, force: true });
    await import("node:fs").then((fs) => fs.mkdirSync(join(dir, "cli")));
    const r = await run("import", "keepalived", fx("lb1.conf"), fx("lb2.conf"), "--out", out);
    expect(r.code).toBe(0);
    expect(r.err).toContain(`vigil keygen ${join(dir, "cli", "vigil.key")}`);
    expect(readFileSync(out, "utf8")).toContain("name: VI_EXT");
    // Before the key exists check-config says what is missing; after keygen it passes.
    expect((await run("check-config", out)).code).toBe(1);
    expect((await run("keygen", join(dir, "cli", "vigil.key"))).code).toBe(0);
    const check = await run("check-config", out);
    expect(check.err).toBe("");
    expect(check.code).toBe(0);
  });

  it("refuses to overwrite without --force, and overwrites with it", async () => {
    const out = join(dir, "exists.yaml");
    writeFileSync(out, "keep me\n");
    const r = await run("import", "keepalived", fx("lb1.conf"), "--out", out);
    expect(r.code).toBe(1);
    expect(r.err).toContain("exists; not overwritten (add --force to replace it)");
    expect(readFileSync(out, "utf8")).toBe("keep me\n");
    expect((await run("import", "keepalived", fx("lb1.conf"), "--out", out, "--force")).code).toBe(0);
    expect(readFileSync(out, "utf8")).toContain("name: VI_EXT");
  });

  it("prints to stdout; a malformed file is one line with file:line, exit 1", async () => {
    const ok = await run("import", "keepalived", fx("lb1.conf"));
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/^# vigil\.yaml imported from/);
    const bad = await run("import", "keepalived", fx("bad-quote.conf"));
    expect(bad.code).toBe(1);
    expect(bad.err).toBe(`vigil import keepalived: ${fx("bad-quote.conf")}:2: a quoted string is not closed on its line`);
    expect(existsSync(join(dir, "nothing.yaml"))).toBe(false);
  });

  it("usage errors: an unknown source kind, a bad --addresses", async () => {
    expect((await run("import", "pacemaker", "x")).code).toBe(2);
    const r = await run("import", "keepalived", fx("lb1.conf"), "--addresses", "lb1=not-an-ip");
    expect(r.code).toBe(2);
    expect(r.err).toContain('--addresses: "not-an-ip" (node lb1) is not an IPv4 address');
  });
});
