/**
 * The farm's UDP flow records over nf_tables netlink against the real kernel
 * (fixtures/farm-flows-netlink.ts, in a namespace of its own): a dump of
 * 3000 records reads exactly what nft lists; recording a peer's flows
 * replaces other owners' records, leaves those already right and adds the
 * missing; a disclaim removes only records naming the peer; a missing table
 * gives a clear error.
 */
import { join } from "node:path";
import { expect } from "vitest";
import { BUN, FARM_FIXTURES } from "./farm-lab.ts";
import { describeLab, labTest, useLab } from "./lab-test.ts";

describeLab(
  "farm flow records over nf_tables netlink",
  () => {
    const lab = useLab({ hosts: 1 });

    labTest("read, record and unrecord agree with nft", async () => {
      const h = lab().hosts[0]!;
      const r = await h.exec([BUN, join(FARM_FIXTURES, "farm-flows-netlink.ts"), "3000"], { check: true, timeoutMs: 60_000 });
      const out = JSON.parse(r.stdout.trim().split("\n").pop() ?? "{}") as Record<string, unknown>;
      expect(out.netlink).toBe(true);
      expect(out.read).toBe(3000);
      expect(out.readMatchesNft).toBe(true);
      expect(out.record).toEqual({ ok: true, changed: 3 });
      expect(out.afterRecord).toEqual([3, 3, 3, 3]);
      expect(out.unrecord).toEqual({ ok: true, changed: 2 });
      expect(out.afterUnrecord).toEqual([null, null, 1]);
      expect(out.gone).toMatch(/cannot read its UDP flows: nf_tables netlink: the kernel refused the dump: ENOENT/);
      expect((await h.exec(["nft", "list", "tables"], { check: true })).stdout).not.toContain("vigil_farm_nltest");
    }, 90_000);
  },
  { tools: ["nft"] },
);
