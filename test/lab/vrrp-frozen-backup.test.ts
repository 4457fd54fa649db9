/**
 * A BACKUP frozen (SIGSTOP) for longer than Master_Down_Interval while the
 * master keeps advertising, on a real kernel: the master's adverts wait in
 * the raw socket's kernel queue, the master-down timer is overdue when the
 * process resumes, and the receive Worker and the timer resume together.
 * The backup must read what arrived before acting on the timer: it stays
 * BACKUP, with no moment as MASTER (a duplicate VIP on the LAN). Several
 * freezes, because which thread runs first after SIGCONT varies.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect } from "vitest";
import { waitUntil } from "./lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { signalPid } from "./procfs.ts";
import { makeKey, startVigil, stopVigil, vigilYaml, vrrpStatus } from "./vrrp-lab.ts";
import { sleep } from "./wait.ts";

/** At 100 ms adverts the backup's Master_Down_Interval is 360 ms: each freeze is well past it. */
const FREEZE_MS = 800;
const FREEZES = 7;

describeLab("a frozen VRRP backup", () => {
  const lab = useLab({ hosts: 2 });
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "vigil-vrrp-frozen-"));
  });
  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  labTest(`BACKUP stopped ${FREEZES} times for ${FREEZE_MS} ms while the master advertises every 100 ms: it reads the queued adverts first and never becomes MASTER`, async () => {
    const [h1, h2] = [lab().host(1), lab().host(2)];
    const key = await makeKey(dir);
    const yaml = vigilYaml([h1, h2], { priority: { h1: 150, h2: 100 }, advertInt: "100ms" }, key);
    const n1 = await startVigil(h1, dir, yaml);
    const n2 = await startVigil(h2, dir, yaml);
    try {
      await waitUntil(async () => (await vrrpStatus(n1)).role === "master" && (await vrrpStatus(n2)).role === "backup", { timeoutMs: 15_000, intervalMs: 100, what: "h1 MASTER, h2 BACKUP" });
      const mark = n2.proc.output().length;
      for (let i = 0; i < FREEZES; i++) {
        signalPid(n2.proc.pid, "SIGSTOP");
        try {
          await sleep(FREEZE_MS);
        } finally {
          signalPid(n2.proc.pid, "SIGCONT");
        }
        await sleep(150);
      }
      const since = n2.proc.output().slice(mark).split("\n").filter((l) => /vrrp VI_1 (MASTER|BACKUP)/.test(l));
      expect(since).toEqual([]);
      expect(await vrrpStatus(n2)).toMatchObject({ role: "backup", masterAddress: h1.addr() });
      expect((await vrrpStatus(n1)).role).toBe("master");
    } finally {
      await Promise.all([stopVigil(n2), stopVigil(n1)]);
    }
  }, 40_000);
});
