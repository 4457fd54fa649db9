// Prints the suite's last line, "N passed, N failed", from vitest's JSON
// reports (one per run: the pure tests and the lab tests run apart) plus the
// build/type-check steps, and sets the exit status.
import { existsSync, readFileSync } from "node:fs";

const [extraPass = "0", extraFail = "0", vitestExit = "0", ...files] = process.argv.slice(2);
let passed = Number(extraPass);
let failed = Number(extraFail);
let skipped = 0;
for (const file of files) {
  if (!existsSync(file)) {
    console.log(`no test report was written to ${file} (vitest did not run)`);
    failed += 1;
    continue;
  }
  const r = JSON.parse(readFileSync(file, "utf8"));
  passed += r.numPassedTests ?? 0;
  failed += r.numFailedTests ?? 0;
  skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A file that failed to load, or whose hooks failed, may show no failed
  // test; count it once so the summary never reads "0 failed" for it.
  for (const s of r.testResults ?? []) {
    const failedTests = (s.assertionResults ?? []).filter((a) => a.status === "failed").length;
    if (s.status === "failed" && failedTests === 0) {
      console.log(`failed outside any test: ${s.name}: ${(s.message ?? "").split("\n")[0]}`);
      failed += 1;
    }
  }
}
if (vitestExit !== "0" && failed === 0) {
  console.log(`vitest exited with status ${vitestExit}`);
  failed += 1;
}
const ci = process.env.CI === "true";
if (ci && skipped > 0) {
  console.log(`${skipped} skipped test(s) count as failures under CI=true`);
  failed += skipped;
  skipped = 0;
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ""}`);
process.exit(failed === 0 ? 0 : 1);
