// Builds dist/vigil: one self-contained executable with the console embedded.
// Bun comes from node_modules (a dev dependency), so nothing is downloaded here.
import { execFileSync } from "node:child_process";
import { mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bun = join(root, "node_modules", ".bin", "bun");
// VIGIL_OUT builds elsewhere, so a build kept for a long test run is not replaced under it.
const out = process.env.VIGIL_OUT || join(root, "dist", "vigil");

execFileSync(process.execPath, [join(root, "scripts", "embed-assets.mjs")], { stdio: "inherit" });
mkdirSync(dirname(out), { recursive: true });
// --bytecode halves cold start; it needs --format=esm for top-level await.
execFileSync(
  bun,
  // The mirror's FUSE server and its applier run in Workers: their modules are more entry points of the bundle.
  ["build", "--compile", "--minify", "--bytecode", "--format=esm", join(root, "src", "main.ts"), join(root, "src", "replicator", "intercept-worker.ts"), join(root, "src", "replicator", "apply-worker.ts"), "--outfile", out],
  { stdio: ["ignore", "ignore", "inherit"], cwd: root },
);
const mb = (statSync(out).size / 1e6).toFixed(1);
console.log(`built ${out} (${mb} MB)`);
