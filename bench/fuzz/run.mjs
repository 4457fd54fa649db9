// Starts the fuzzer under Node, whose inspector gives the block coverage it
// steers by (Node 20 cannot run .ts itself): bundles main, the worker and
// the targets with the Bun in node_modules into a private temporary folder,
// then runs main there. Arguments go to main.ts.
//
//   node bench/fuzz/run.mjs [--targets heartbeat,vrrp] [--seconds 60] [--seed N] [--write-corpus] [--no-random]
//                           [--from-corpus] [--report NAME]
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const out = mkdtempSync(join(tmpdir(), "vigil-fuzz-"));
try {
  execFileSync(join(root, "node_modules", ".bin", "bun"), [
    "build", "--target=node", "--outdir", out, "--entry-naming", "[name].mjs",
    join(here, "main.ts"), join(here, "worker.ts"), join(here, "targets.ts"),
  ], { stdio: ["ignore", "ignore", "inherit"] });
  const r = spawnSync(process.execPath, [join(out, "main.mjs"), "--dist", out, "--root", root, ...process.argv.slice(2)], { stdio: "inherit" });
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
