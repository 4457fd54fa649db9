/**
 * The heartbeat hold on a real kernel, two vigil nodes (the real binary),
 * VRRP on link 1, heartbeats on links 1 and 2, adverts every second:
 *
 * 1. The master's adverts are dropped on their way to the backup (nftables,
 *    IP protocol 112, at the backup's input only) while heartbeats pass:
 *    Master_Down_Interval runs out, the backup holds instead of taking
 *    over, and it is BACKUP still when the adverts come back.
 * 2. The master's VRRP interface fails (its cable out at the switch) while
 *    its heartbeat runs on link 2: its interface tracking puts it in FAULT,
 *    its heartbeat says so, and the backup takes over at
 *    Master_Down_Interval without a hold.
 * 3. The master's node dies (SIGKILL), with a heartbeat deadtime longer
 *    than Master_Down_Interval: its last heartbeat is too old by then, and
 *    the backup takes over at Master_Down_Interval, as without the hold.
 *
 * No timings are asserted: the log says why each takeover happened (bench/
 * has the figures). preempt is off, so the node back from FAULT stays
 * BACKUP and the last step has a master to kill without waiting again.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { type LabHost, waitUntil } from "./lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { logAfter, makeKey, startVigil, stopVigil, VIP, type VigilNode, vrrpStatus, VRID } from "./vrrp-lab.ts";

/** The backup's Master_Down_Interval at priority 100 and 1 s adverts, and the master's at 150, as the log says them. */
const MDI_100 = 3609;
const MDI_150 = 3414;
const DROP_TABLE = "vigil_hold_test";

function yaml(hosts: readonly LabHost[], key: string): string {
  return [
    "cluster:",
    "  name: hold-lab",
    `  key_file: ${key}`,
    "  nodes:",
    ...hosts.map((h) => `    - { name: ${h.name}, addresses: [${h.addr(1)}, ${h.addr(2)}] }`),
    // A deadtime longer than Master_Down_Interval: the heartbeat's verdict on a dead node comes after VRRP's.
    "  heartbeat: { interval: 100ms, warntime: 1s, deadtime: 6s, initdead: 10s }",
    "vrrp:",
    "  - name: VI_1",
    "    interface: eth0",
    `    vrid: ${VRID}`,
    "    advert_int: 1s",
    `    priority: { ${hosts[0]?.name}: 150, ${hosts[1]?.name}: 100 }`,
    "    preempt: false",
    `    vips: [${VIP}/24]`,
    "    garp_master_delay: 0s",
    "web:",
    "  listen: 127.0.0.1:9010",
    "",
  ].join("\n");
}

/** The lines of `node`'s log from `from` on that name VRRP states or holds. */
function vrrpLines(node: VigilNode, from: number): string[] {
  return node.proc.output().slice(from).split("\n").filter((l) => /vrrp VI_1 (MASTER|BACKUP|FAULT|takeover held)/.test(l));
}

describeLab("VRRP heartbeat hold", () => {
  const lab = useLab({ hosts: 2, links: 2 });
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-vrrp-hold-"));
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  labTest("adverts dropped while heartbeats pass: the backup holds; the master's interface fails: takeover without a hold; the master dies: takeover at Master_Down_Interval", async () => {
    const [h1, h2] = [lab().host(1), lab().host(2)];
    const key = await makeKey(dir);
    const config = yaml([h1, h2], key);
    const n1 = await startVigil(h1, dir, config);
    let n2: VigilNode | undefined;
    let dropping = false;
    try {
      await logAfter(n1.proc, 0, /vrrp VI_1 MASTER/, 20_000);
      n2 = await startVigil(h2, dir, config);
      const b = n2;
      await waitUntil(async () => (await vrrpStatus(b)).masterAddress === h1.addr(), { timeoutMs: 15_000, what: "h2 BACKUP of h1" });

      // 1. h1's adverts stop reaching h2; its heartbeats do not.
      let from = b.proc.output().length;
      await h2.exec(["nft", "-f", "-"], { check: true, input: `table ip ${DROP_TABLE} {\n  chain in { type filter hook input priority 0; ip protocol 112 drop; }\n}\n` });
      dropping = true;
      await logAfter(b.proc, from, /vrrp VI_1 (takeover held|MASTER)/, 15_000);
      expect(vrrpLines(b, from)[0]).toMatch(new RegExp(`warn  vrrp VI_1 takeover held .*node=h1 .*no advert from ${h1.addr().replaceAll(".", "\\.")} for \\d+ ms \\(Master_Down_Interval ${MDI_100} ms\\), but the heartbeat heard node h1 say it is MASTER`));
      await h2.exec(["nft", "delete", "table", "ip", DROP_TABLE], { check: true });
      dropping = false;
      const heard = (await vrrpStatus(b)).advertsReceived;
      await waitUntil(async () => (await vrrpStatus(b)).advertsReceived > heard, { timeoutMs: 10_000, what: "h1's adverts at h2 again" });
      expect(vrrpLines(b, from)).toHaveLength(1);
      expect(await vrrpStatus(b)).toMatchObject({ role: "backup", masterAddress: h1.addr() });
      expect((await vrrpStatus(n1)).role).toBe("master");

      // 2. h1's VRRP link fails; its heartbeat goes on over link 2.
      from = b.proc.output().length;
      const from1 = n1.proc.output().length;
      await lab().linkDown(h1, { link: 1 });
      await logAfter(n1.proc, from1, /vrrp VI_1 FAULT .*reason=interface-down/);
      await logAfter(b.proc, from, /vrrp VI_1 MASTER/);
      expect(vrrpLines(b, from)).toEqual([expect.stringMatching(new RegExp(`info  vrrp VI_1 MASTER .*reason=master-down .*detail="no advert for ${MDI_100} ms \\(Master_Down_Interval\\)"`))]);
      await lab().linkUp(h1, { link: 1 });
      await logAfter(n1.proc, from1, /vrrp VI_1 BACKUP .*reason=fault-cleared/);
      await waitUntil(async () => (await vrrpStatus(n1)).masterAddress === h2.addr(), { timeoutMs: 15_000, what: "h1 BACKUP of h2" });

      // 3. h2's node dies; the heartbeat declares it dead only after VRRP's interval.
      const from1b = n1.proc.output().length;
      b.proc.killGroup("SIGKILL");
      await b.proc.exited;
      const upTo = await logAfter(n1.proc, from1b, /vrrp VI_1 MASTER/);
      expect(vrrpLines(n1, from1b)).toEqual([expect.stringMatching(new RegExp(`info  vrrp VI_1 MASTER .*reason=master-down .*detail="no advert for ${MDI_150} ms \\(Master_Down_Interval\\)"`))]);
      expect(n1.proc.output().slice(from1b, upTo)).not.toMatch(/peer h2 dead/);
    } finally {
      if (dropping) await h2.exec(["nft", "delete", "table", "ip", DROP_TABLE]);
      await Promise.all([stopVigil(n1), ...(n2 === undefined ? [] : [stopVigil(n2)])]);
    }
  }, 90_000);
});
