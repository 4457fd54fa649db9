/**
 * What a crashed farm leaves (its nft table, its macvlan) is removed by a
 * later start of a node whose config no longer has farm modules, as long as
 * a farm ran with that state dir (the mark of src/daemon/farm/ran-mark.ts)
 * or a farm's macvlan is there; a node that never ran a farm does not look
 * (no `nft`, no `ip` at every start). The case with farms configured is in
 * farm-daemon.test.ts.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect } from "vitest";
import { describeLab, labTest, useLab } from "./lab-test.ts";
import { startVigilCluster, type VigilCluster } from "./vigil-cluster.ts";

const TABLE = "table inet vigil_farm_old {\n  set mine { type mark; }\n}\n";
const LINK = "vf0123456789";

describeLab(
  "farm leftovers on a node without farm modules",
  () => {
    const lab = useLab({ hosts: 2 });

    labTest("removed after a farm ran with the state dir or when its macvlan is there; not looked for otherwise", async () => {
      const h1 = lab().hosts[0]!;
      const dir = mkdtempSync(join(tmpdir(), "vigil-farm-leftovers-"));
      let cluster: VigilCluster | undefined;
      const tables = async () => (await h1.exec(["nft", "list", "tables"], { check: true })).stdout;
      const links = async () => (await h1.exec(["ip", "-o", "link"], { check: true })).stdout;
      const farmNotes = () => cluster!.node("h1").events().filter((e) => e.msg.startsWith("farm: "));
      try {
        cluster = await startVigilCluster({ hosts: lab().hosts, dir, heartbeat: { interval: "100ms", deadtime: "500ms", initdead: "3s" }, start: [] });
        const n1 = cluster.node("h1");
        const mark = join(n1.stateDir, "farms-ran");
        await h1.exec(["nft", "-f", "-"], { input: TABLE, check: true });

        // Never ran a farm, no farm macvlan: the table is not looked for.
        await n1.start();
        expect(farmNotes()).toEqual([]);
        await n1.proc.stop(3_000);
        expect(await tables()).toContain("vigil_farm_old");

        // A farm ran with this state dir: the start removes its table and forgets the mark.
        writeFileSync(mark, "farm modules ran with this state dir\n");
        await n1.start();
        expect(farmNotes().map((e) => e.msg)).toEqual(["farm: removed nft table inet vigil_farm_old left by an earlier run"]);
        expect(await tables()).not.toContain("vigil_farm_old");
        expect(existsSync(mark)).toBe(false);
        await n1.proc.stop(3_000);

        // No mark (a state dir made anew), but a farm's macvlan: looked for, both removed.
        await h1.exec(["nft", "-f", "-"], { input: TABLE, check: true });
        await h1.exec(["ip", "link", "add", LINK, "link", h1.ifname(1), "type", "macvlan", "mode", "private"], { check: true });
        await n1.start();
        expect(farmNotes().map((e) => e.msg).sort()).toEqual([
          `farm: removed macvlan ${LINK} left by an earlier run`,
          "farm: removed nft table inet vigil_farm_old left by an earlier run",
        ]);
        expect(await tables()).not.toContain("vigil_farm_old");
        expect(await links()).not.toContain(LINK);
      } finally {
        await cluster?.stop();
        // The lab's namespaces go with the lab; these only if a step above failed.
        await h1.exec(["nft", "delete", "table", "inet", "vigil_farm_old"]).catch(() => undefined);
        await h1.exec(["ip", "link", "del", LINK]).catch(() => undefined);
        rmSync(dir, { recursive: true, force: true });
      }
    }, 120_000);
  },
  { tools: ["nft"] },
);
