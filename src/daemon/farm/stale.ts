/**
 * Leftovers of farms a crashed daemon ran but the config no longer has: their
 * nft tables and macvlans (a crash leaves both on purpose, see
 * src/sys/farm/exit-guard.ts). Farms still configured clean their own
 * leftovers when they set up. VIPs on lo cannot be told apart from the
 * operator's own addresses, so they are reported, not removed.
 */
import { createIpRunner, type IpRunner } from "../../sys/ip-command.ts";
import { deleteTable, listTables } from "../../sys/nft.ts";
import { macvlanName } from "../../sys/farm/link.ts";
import { FARM_TABLE_PREFIX, farmTableName } from "../../sys/farm/ruleset.ts";

/** Removes them; returns one line per thing removed or not removable. */
export async function removeStaleFarms(modules: readonly string[], run: IpRunner = createIpRunner()): Promise<string[]> {
  const notes: string[] = [];
  const keepTables = new Set(modules.map(farmTableName));
  const tables = await listTables({ needFor: "farm modules" });
  if (tables.ok) {
    for (const t of tables.tables) {
      if (t.family !== "inet" || !t.name.startsWith(FARM_TABLE_PREFIX) || keepTables.has(t.name)) continue;
      const r = await deleteTable("inet", t.name);
      notes.push(r.ok ? `removed nft table inet ${t.name} left by an earlier run` : `cannot remove nft table inet ${t.name}: ${r.message}`);
    }
  }
  const keepLinks = new Set(modules.map(macvlanName));
  const links = await run(["-o", "link", "show", "type", "macvlan"]);
  if (links.ok) {
    for (const line of links.stdout.split("\n")) {
      const name = /^\d+:\s+(vf[0-9a-f]{10})@/.exec(line)?.[1];
      if (name === undefined || keepLinks.has(name)) continue;
      const r = await run(["link", "del", name]);
      notes.push(r.ok ? `removed macvlan ${name} left by an earlier run` : `cannot remove macvlan ${name}: ${r.message}`);
    }
  }
  return notes;
}
