/**
 * A bench run's scratch folder (configs, logs, copies of binaries): removed
 * on SIGINT or SIGTERM (the lab tears itself down on those; the files are
 * ours to remove) and after a run that ended well, kept with its logs after
 * one that failed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function withScratchDir<T>(prefix: string, log: (line: string) => void, run: (dir: string) => Promise<T>): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const onSignal = (): void => {
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let ok = false;
  try {
    const result = await run(dir);
    ok = true;
    return result;
  } finally {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    if (ok) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir} for its logs`);
  }
}
