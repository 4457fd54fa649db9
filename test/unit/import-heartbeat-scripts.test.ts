/**
 * `vigil import heartbeat` on a folder that holds resource.d, as /etc/ha.d
 * does: a haresources name found there is one of Heartbeat's resource
 * scripts, which systemd has no unit for, so it becomes a start/stop pair of
 * wrapper scripts the comment spells out; a name not found there stays a
 * systemd service (an /etc/init.d script or a unit).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config/load.ts";
import { importConfig } from "../../src/import/import-config.ts";

const dir = mkdtempSync(join(tmpdir(), "vigil-import-hb-scripts-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function haD(name: string, scripts: readonly string[]): string {
  const d = join(dir, name);
  mkdirSync(join(d, "resource.d"), { recursive: true });
  writeFileSync(join(d, "ha.cf"), "keepalive 2\ndeadtime 30\nucast eth0 198.51.100.22\nucast eth0 198.51.100.21\nauto_failback off\nnode web1\nnode web2\n");
  writeFileSync(join(d, "haresources"), "web1 IPaddr::198.51.100.80/24/eth0 recorder httpd\nweb2 198.51.100.90/24/eth0 Filesystem::/dev/sdb1::/srv::ext4 apache\n");
  for (const s of scripts) writeFileSync(join(d, "resource.d", s), "#!/bin/sh\nexit 0\n");
  return d;
}

describe("haresources names that are scripts of the folder's resource.d", () => {
  const folder = haD("etc-ha.d", ["recorder", "apache", "IPaddr", "Filesystem"]);
  const r = importConfig("heartbeat", [folder], new Map([["web1", ["198.51.100.21"]], ["web2", ["198.51.100.22"]]]));
  const loaded = parseConfig(r.text, join(dir, "vigil.yaml"));
  if (!loaded.ok) throw new Error(`${loaded.errors.map((e) => `${e.path}: ${e.found}, expected ${e.expected}`).join("\n")}\n${r.text}`);
  const modules = loaded.config.modules;

  it("become start and stop wrappers named after the script; a name not in resource.d stays a systemd service", () => {
    expect(modules.map((m) => m.name)).toEqual(["recorder", "apache"]);
    expect(r.text).toContain("- start: ./recorder-start.sh\n        stop: ./recorder-stop.sh\n      - service: httpd");
    expect(r.text).toContain("- start: ./apache-start.sh\n        stop: ./apache-stop.sh");
    expect(r.text).not.toContain("service: apache");
  });

  it("say what to put in each wrapper, and where Heartbeat's script was", () => {
    expect(r.text).toContain(`recorder: a Heartbeat resource script (${join(folder, "resource.d", "recorder")}), which systemd has no unit for`);
    expect(r.text).toContain(`put "exec /etc/ha.d/resource.d/recorder start" in ./recorder-start.sh and "exec /etc/ha.d/resource.d/recorder stop" in ./recorder-stop.sh`);
    expect(r.warnings).toEqual([]);
  });

  it("leave IPaddr and the resources vigil has no match for as they were (a VIP; a comment)", () => {
    expect(r.text).toContain("- vip: 198.51.100.80/24\n        interface: eth0");
    expect(r.text).toMatch(/Filesystem::\/dev\/sdb1::\/srv::ext4: vigil does not mount shared storage/);
  });
});

describe("a folder without resource.d (the three files copied alone)", () => {
  it("keeps a plain name as a systemd service, with the note that says so", () => {
    const d = join(dir, "copied");
    mkdirSync(d);
    writeFileSync(join(d, "ha.cf"), "ucast eth0 198.51.100.22\nnode web1\nnode web2\n");
    writeFileSync(join(d, "haresources"), "web1 IPaddr::198.51.100.80/24/eth0 recorder\n");
    const r = importConfig("heartbeat", [d], new Map([["web1", ["198.51.100.21"]], ["web2", ["198.51.100.22"]]]));
    expect(r.text).toContain("- service: recorder");
    expect(r.text).toContain("vigil runs `systemctl start|stop recorder`");
  });
});
