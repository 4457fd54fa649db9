/**
 * The record of a live lab in /run/vigil-netlab/<run>, shared with
 * scripts/netlab.sh: `netlab.sh status` shows it and `netlab.sh down <run>`
 * removes exactly the namespaces listed there, even if the test process that
 * made them was SIGKILLed and could not clean up.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REGISTRY_DIR } from "./names.ts";

export interface RunRecord {
  run: string;
  hosts: number;
  links: number;
  namespaces: string[];
}

export function recordPath(run: string): string {
  return join(REGISTRY_DIR, run);
}

/** Best effort: a lab still works when /run is not writable; only the manual escape hatch is lost. */
export function writeRecord(rec: RunRecord): void {
  try {
    mkdirSync(REGISTRY_DIR, { recursive: true });
    const lines = [
      `run=${rec.run}`,
      "kind=test",
      `owner=${process.pid}`,
      `hosts=${rec.hosts}`,
      `links=${rec.links}`,
      `namespaces=${rec.namespaces.join(" ")}`,
      `created=${new Date().toISOString()}`,
    ];
    writeFileSync(recordPath(rec.run), `${lines.join("\n")}\n`);
  } catch {
    // see above
  }
}

export function removeRecord(run: string): void {
  rmSync(recordPath(run), { force: true });
}
