/**
 * vitest glue for lab tests.
 *
 * Lab tests need root. As root they run; otherwise they are skipped, except
 * under CI=true, where a skipped lab test would hide a broken pipeline, so each
 * one fails with "lab tests need root; CI must run as root".
 *
 *   describeLab("vrrp interop", () => {
 *     const lab = useLab({ hosts: 2 });              // built in beforeAll, destroyed in afterAll
 *     labTest("keepalived yields to us", async () => { ... lab().hosts[0] ... });
 *   }, { tools: ["keepalived"] });
 *
 *   labTest("a one-off lab", async () => {
 *     const lab = await createTestLab({ hosts: 2 }); // destroyed when this test ends, pass or fail
 *   });
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, onTestFinished, test } from "vitest";
import { createLab, type Lab, type LabOptions } from "./lab.ts";
import { LabError } from "./errors.ts";
import { LAB_BASE_TOOLS, missingToolsMessage } from "./tools.ts";

export const ROOT_REQUIRED = "lab tests need root; CI must run as root";

export type LabGate = "run" | "skip" | "fail";

/** What a lab test does in an environment: run as root, else skip, else fail under CI. */
export function labGate(env: { uid: number | null; ci: string | undefined }): LabGate {
  if (env.uid === 0) return "run";
  return env.ci !== undefined && /^(true|1|yes)$/i.test(env.ci) ? "fail" : "skip";
}

const currentGate = (): LabGate =>
  labGate({ uid: typeof process.getuid === "function" ? process.getuid() : null, ci: process.env.CI });

/** Why lab tests cannot run here ("" if they can): no root under CI, or missing host tools. */
export function labProblem(tools: readonly string[]): string {
  const gate = currentGate();
  if (gate === "fail") return `${ROOT_REQUIRED} (running as uid ${process.getuid?.() ?? "unknown"})`;
  if (gate === "skip") return "";
  return missingToolsMessage([...new Set([...LAB_BASE_TOOLS, ...tools])]);
}

function gatedTest(tools: readonly string[]) {
  // An automatic fixture fails each test up front with the reason, instead of
  // letting it die later on a confusing "Operation not permitted".
  const checked = test.extend<{ labGate: void }>({
    labGate: [
      // The empty pattern is required: vitest reads a fixture's dependencies from it.
      async ({}, use) => {
        const problem = labProblem(tools);
        if (problem) throw new LabError(problem);
        await use();
      },
      { auto: true },
    ],
  });
  return checked.skipIf(currentGate() === "skip");
}

/** Like `it`/`test` (also .only, .each, .for...): runs as root, skips otherwise, fails under CI=true. */
export const labTest = gatedTest([]);

/** labTest that also fails, naming the tool and its Debian package, when a host tool is missing. */
export function labTestNeeding(...tools: string[]): typeof labTest {
  return gatedTest(tools);
}

export interface DescribeLabOptions {
  /** Host tools beyond ip, tc and ping, e.g. ["keepalived", "nft"]. */
  tools?: string[];
}

/**
 * Like `describe` for lab tests. When the suite cannot run (no root under CI,
 * or a missing tool) its body is replaced by one failing test saying why, so
 * its hooks never try to build a lab.
 */
export function describeLab(name: string, fn: () => void, opts: DescribeLabOptions = {}): void {
  const gate = currentGate();
  if (gate === "skip") {
    describe.skip(name, fn);
    return;
  }
  const problem = labProblem(opts.tools ?? []);
  if (problem) {
    describe(name, () => {
      test("lab prerequisites", () => {
        throw new LabError(problem);
      });
    });
    return;
  }
  describe(name, fn);
}

/**
 * One lab for the enclosing describe: built in beforeAll, destroyed in afterAll
 * (which vitest runs after failures and timeouts too). Returns a getter.
 */
export function useLab(opts: LabOptions): () => Lab {
  let lab: Lab | undefined;
  beforeAll(async () => {
    lab = await createLab(opts);
  });
  afterAll(async () => {
    await lab?.destroy();
  });
  return () => {
    if (!lab) throw new LabError("useLab: the lab is not built yet; call the getter inside a test or hook");
    return lab;
  };
}

/** A lab for the running test only: destroyed when the test finishes, whether it passed, failed or timed out. */
export async function createTestLab(opts: LabOptions): Promise<Lab> {
  let lab: Lab | undefined;
  let finished = false;
  // Registered first: this throws outside a running test, before anything is built.
  onTestFinished(async () => {
    finished = true;
    await lab?.destroy();
  });
  lab = await createLab(opts);
  if (finished) {
    // The test timed out while the lab was being built.
    await lab.destroy();
    throw new LabError(`lab ${lab.run} was built after its test had finished; destroyed it`);
  }
  return lab;
}

export { missingToolMessage, missingToolsMessage, requireTools, TOOL_PACKAGES } from "./tools.ts";

/**
 * A folder for one test file's runs in the system's temporary folder; each
 * call of the function returned makes a fresh run folder in it. Removed after
 * the file unless VIGIL_KEEP_LAB_DIR=1, which keeps the copies and logs for a
 * look after a failure.
 */
export function useRunDirs(prefix: string): (run: string) => string {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), prefix));
  });
  afterAll(() => {
    if (dir !== "" && process.env["VIGIL_KEEP_LAB_DIR"] !== "1") rmSync(dir, { recursive: true, force: true });
  });
  return (run) => mkdtempSync(join(dir, `${run}-`));
}
