/** The keepalived-compatible VRRP keys beyond the basics: notify scripts, sync groups, unicast_src_ip, GARP, nopreempt. */
import { describe, expect, it } from "vitest";
import { effectiveConfigYaml } from "../../src/config/load.ts";
import type { VigilConfig } from "../../src/config/types.ts";
import { fileText, loadConfig, problems as fileProblems, TWO_NODES } from "./config-text.ts";

const FILE = "/etc/vigil/vigil.yaml";
/** The two-node cluster, then `vrrp:` and these lines (an instance's first line is line 7). */
const text = (...l: string[]): string => fileText(...TWO_NODES, "vrrp:", ...l);
const problems = (...l: string[]): string[] => fileProblems(text(...l), FILE);
const ok = (...l: string[]): VigilConfig => loadConfig(text(...l), FILE);

const INSTANCE = "  - { name: VI_1, interface: eth0, vrid: 51, vips: [198.51.100.100/24]";

describe("VRRP keys from keepalived", () => {
  it("reads notify scripts (relative to the config), GARP policy, down_timer_adverts and the sync group", () => {
    const c = ok(
      "  - name: VI_1",
      "    interface: eth0",
      "    vrid: 51",
      "    vips: [198.51.100.100/24]",
      "    notify: scripts/notify.sh",
      "    notify_master: /usr/local/bin/to-master",
      "    notify_backup: to-backup.sh",
      "    notify_fault: fault.sh",
      "    notify_stop: stop.sh",
      "    garp_master_repeat: 2",
      "    garp_interval: 10ms",
      "    garp_master_delay: 0s",
      "    down_timer_adverts: 5",
      "    sync_group: edge",
      `${INSTANCE.replace("VI_1", "VI_2").replace("51", "52").replace(".100/", ".101/")}, sync_group: edge }`,
    );
    expect(c.vrrp[0]).toMatchObject({
      notify: "/etc/vigil/scripts/notify.sh",
      notify_master: "/usr/local/bin/to-master",
      notify_backup: "/etc/vigil/to-backup.sh",
      notify_fault: "/etc/vigil/fault.sh",
      notify_stop: "/etc/vigil/stop.sh",
      garp_master_repeat: 2,
      garp_interval: 10,
      garp_master_delay: 0,
      down_timer_adverts: 5,
      sync_group: "edge",
    });
    expect(c.vrrp[1]).toMatchObject({ sync_group: "edge", garp_master_repeat: 5, garp_master_delay: 5_000, down_timer_adverts: 3 });
    expect(c.vrrp[1]).not.toHaveProperty("notify");
  });

  it("takes unicast_src_ip as one address for every node or as a mapping per node", () => {
    expect(ok(`${INSTANCE}, unicast_src_ip: 198.51.100.1 }`).vrrp[0]?.unicast_src_ip).toEqual({ a: "198.51.100.1", b: "198.51.100.1" });
    expect(ok(`${INSTANCE}, unicast_src_ip: { b: 198.51.100.2 } }`).vrrp[0]?.unicast_src_ip).toEqual({ b: "198.51.100.2" });
    expect(ok(`${INSTANCE} }`).vrrp[0]).not.toHaveProperty("unicast_src_ip");
  });

  it("reads nopreempt as preempt: false", () => {
    expect(ok(`${INSTANCE}, nopreempt: true }`).vrrp[0]?.preempt).toBe(false);
    expect(ok(`${INSTANCE}, nopreempt: false }`).vrrp[0]?.preempt).toBe(true);
    expect(ok(`${INSTANCE}, nopreempt: true, preempt: false }`).vrrp[0]?.preempt).toBe(false);
  });

  it("prints the effective config so that it loads back to the same value", () => {
    const c = ok(`${INSTANCE}, nopreempt: true, unicast_src_ip: { a: 198.51.100.1 }, garp_interval: 20ms, notify: n.sh }`);
    const yaml = effectiveConfigYaml(c);
    expect(yaml).toContain("garp_interval: 20ms");
    expect(yaml).toContain("garp_master_delay: 5s");
    expect(yaml).not.toContain("nopreempt");
    expect(loadConfig(yaml, FILE)).toEqual(c);
  });

  it("names each mistake with its position", () => {
    expect(problems(`${INSTANCE}, nopreempt: true, preempt: true }`)).toEqual([
      "/etc/vigil/vigil.yaml:7:73: vrrp[0].nopreempt: found nopreempt: true beside preempt: true, expected one of them: nopreempt is keepalived's spelling of preempt: false",
    ]);
    expect(problems(`${INSTANCE}, unicast_src_ip: { c: 198.51.100.3 } }`)).toEqual([
      '/etc/vigil/vigil.yaml:7:91: vrrp[0].unicast_src_ip.c: found unknown node "c", expected a node name: a, b',
    ]);
    expect(problems(`${INSTANCE}, unicast_src_ip: 198.51.100 }`)).toHaveLength(1);
    expect(problems(`${INSTANCE}, unicast_src_ip: 198.51.100 }`)[0]).toMatch(/vrrp\[0\]\.unicast_src_ip: found "198\.51\.100", expected an IPv4 address, or a mapping/);
    expect(problems(`${INSTANCE}, sync_group: edge }`)).toEqual([
      '/etc/vigil/vigil.yaml:7:85: vrrp[0].sync_group: found sync group "edge" with this instance only, expected the same sync_group on at least two instances (check the other instance\'s spelling)',
    ]);
    expect(problems(`${INSTANCE}, down_timer_adverts: 0 }`)[0]).toMatch(/vrrp\[0\]\.down_timer_adverts: found 0, expected /);
    expect(problems(`${INSTANCE}, garp_master_repeat: 1000 }`)[0]).toMatch(/vrrp\[0\]\.garp_master_repeat: found 1000, expected /);
    expect(problems(`${INSTANCE}, notify_master: "" }`)[0]).toMatch(/vrrp\[0\]\.notify_master: found "", expected a file path/);
    expect(problems(`${INSTANCE}, notify_all: x.sh }`)[0]).toMatch(/vrrp\[0\]\.notify_all: found unknown key "notify_all"/);
  });
});
