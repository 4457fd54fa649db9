/**
 * A verb's whole answer reaches a pipe before vigil exits (src/sys/outlet.ts),
 * also when the reader is slower than vigil (`vigil status --json | jq`), and
 * a reader that goes away early (`| head`) neither keeps vigil waiting nor
 * changes its exit code. The answers are real ones of 350-450 KiB, far more
 * than a pipe or socket holds: the effective config of a config with 100
 * modules of 24 resources (one large write, as `status --json` does) and the
 * problems of an invalid config (3000 lines, one write each), read through a
 * shell pipe and through the socket Node gives a child.
 *
 * The readers are slow by pausing after their first 64 KiB, not by a clock
 * started before vigil writes, so vigil always meets a full pipe. No verdict
 * rests on time: a vigil that never exits fails by the test's timeout.
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VIGIL, requireBinary } from "./vigil-binary.ts";

const MODULES = 100;
/** Resources per module: the answer grows by them at little cost to the checks (vigil's time goes by module). */
const RESOURCES = 24;
/** Problems of the invalid config: one bad start_timeout per resource. */
const PROBLEMS = 3000;
/**
 * A slow reader takes the first 64 KiB at once, then stops for a second: vigil meets a full pipe
 * meanwhile, after writes that went out at once (the mix that once let it exit with a third unsent).
 */
const EAGER_BYTES = 64 * 1024;
const PAUSE_MS = 1000;
/** Only a guard against a vigil that never exits: on two cores shared with other runs a check takes up to ~30 s. */
const TIMEOUT_MS = 180_000;

/** A two-node config with modules of many resources; with `startTimeout` "soon" each resource is a problem. */
function configWith(modules: number, resources: number, startTimeout = "1m"): string {
  const lines = [
    "cluster:",
    "  name: lab",
    "  nodes:",
    "    - { name: a, addresses: [192.0.2.1] }",
    "    - { name: b, addresses: [192.0.2.2] }",
    "modules:",
  ];
  for (let m = 1; m <= modules; m++) {
    lines.push(`  - name: app${m}`, "    type: failover", "    resources:");
    for (let r = 1; r <= resources; r++) {
      const dir = `/opt/app${m}/lib/vigil/resource-${r}`;
      lines.push(`      - { start: ${dir}/start-service.sh, stop: ${dir}/stop-service.sh, start_timeout: ${startTimeout} }`);
    }
  }
  return lines.join("\n") + "\n";
}

interface Answer { code: number | null; text: string }

/** Runs vigil with the chosen stream through Node's child pipe, read by a slow reader (EAGER_BYTES, PAUSE_MS). */
function slowlyRead(args: string[], which: "stdout" | "stderr"): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const child = spawn(VIGIL, args, {
      stdio: ["ignore", which === "stdout" ? "pipe" : "ignore", which === "stderr" ? "pipe" : "ignore"],
      env: { ...process.env, VIGIL_CONFIG: "" },
    });
    const stream = which === "stdout" ? child.stdout : child.stderr;
    if (stream === null) throw new Error("no pipe");
    const chunks: Buffer[] = [];
    let bytes = 0;
    // A 'data' listener from the start: Node resumes an unread child pipe when the child exits, and a
    // reader that subscribes later loses what was buffered (the earlier test's "0 bytes, exit 0").
    stream.on("data", (b: Buffer) => {
      const before = bytes;
      bytes += b.length;
      chunks.push(b);
      if (before < EAGER_BYTES && bytes >= EAGER_BYTES) {
        stream.pause();
        setTimeout(() => stream.resume(), PAUSE_MS);
      }
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, text: Buffer.concat(chunks).toString("utf8") }));
  });
}

/** Runs vigil piped into a reader under bash, as a user's shell does; the exit code is vigil's. */
function throughShell(args: string[], reader: string): Answer {
  const r = spawnSync("bash", ["-c", `"$@" | ${reader}; exit "\${PIPESTATUS[0]}"`, "bash", VIGIL, ...args], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    env: { ...process.env, VIGIL_CONFIG: "" },
  });
  return { code: r.status, text: r.stdout };
}

/** The slow reader in a shell (dd with fullblock reads exactly EAGER_BYTES; head could read more and drop it). */
const SLOW_SHELL_READER = `{ dd bs=${EAGER_BYTES} count=1 iflag=fullblock status=none && sleep ${PAUSE_MS / 1000} && cat; }`;

describe("a verb's large answer through a pipe", { timeout: TIMEOUT_MS }, () => {
  let dir = "";
  let config = "";
  let invalid = "";
  /** The effective config as written to a regular file, where every write completes at once. */
  let printed = "";

  beforeAll(() => {
    requireBinary();
    dir = mkdtempSync(join(tmpdir(), "vigil-pipe-"));
    config = join(dir, "vigil.yaml");
    writeFileSync(config, configWith(MODULES, RESOURCES));
    invalid = join(dir, "invalid.yaml");
    writeFileSync(invalid, configWith(PROBLEMS / 30, 30, "soon"));
    const file = join(dir, "printed.yaml");
    const fd = openSync(file, "w");
    try {
      const r = spawnSync(VIGIL, ["check-config", config, "--print"], { stdio: ["ignore", fd, "inherit"], env: { ...process.env, VIGIL_CONFIG: "" } });
      expect(r.status).toBe(0);
    } finally {
      closeSync(fd);
    }
    printed = readFileSync(file, "utf8");
    // The reference itself is whole: every module and resource in order, and the last section's end.
    expect(printed.split("\n")[0]).toBe(`# effective config of ${config} (found by flag)`);
    expect([...printed.matchAll(/^ {2}- name: (\S+)$/gm)].map((m) => m[1])).toEqual(Array.from({ length: MODULES }, (_, i) => `app${i + 1}`));
    expect(printed.match(/^ {6}- start: \S+\/start-service\.sh$/gm)?.length).toBe(MODULES * RESOURCES);
    expect(printed).toMatch(/\nconsole:\n(?: {2}.*\n)+$/);
    expect(printed.length).toBeGreaterThan(400 * 1024);
  }, TIMEOUT_MS);

  afterAll(() => {
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  it("delivers one large write whole to a slow reader on Node's child pipe, then exits 0", async () => {
    const r = await slowlyRead(["check-config", config, "--print"], "stdout");
    expect(r.code).toBe(0);
    expect(r.text.length).toBe(printed.length);
    expect(r.text).toBe(printed);
  });

  it("delivers one large write whole to a slow reader in a shell pipe, then exits 0", () => {
    const r = throughShell(["check-config", config, "--print"], SLOW_SHELL_READER);
    expect(r.code).toBe(0);
    expect(r.text.length).toBe(printed.length);
    expect(r.text).toBe(printed);
  });

  it("delivers thousands of lines on stderr whole to a slow reader, then exits 1", async () => {
    const r = await slowlyRead(["check-config", invalid], "stderr");
    expect(r.code).toBe(1);
    const lines = r.text.split("\n");
    expect(lines.pop()).toBe("");
    expect(lines.length).toBe(PROBLEMS + 1);
    expect(lines.filter((l) => /^\S+invalid\.yaml:\d+:\d+: modules\[\d+\]\.resources\[\d+\]\.start_timeout: found "soon"/.test(l)).length).toBe(PROBLEMS);
    expect(lines.at(-1)).toBe(`${invalid}: ${PROBLEMS} problems; the config is not valid`);
  });

  it("exits 0 when the reader on Node's child pipe closes it early", async () => {
    const child = spawn(VIGIL, ["check-config", config, "--print"], { stdio: ["ignore", "pipe", "ignore"], env: { ...process.env, VIGIL_CONFIG: "" } });
    let bytes = 0;
    child.stdout.on("data", (b: Buffer) => {
      bytes += b.length;
      if (bytes >= 4096) child.stdout.destroy();
    });
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(0);
    expect(bytes).toBeGreaterThanOrEqual(4096);
    expect(bytes).toBeLessThan(printed.length);
  });

  it("exits 0 when `head` in a shell pipe stops reading early", () => {
    const r = throughShell(["check-config", config, "--print"], "head -c 4096");
    expect(r.code).toBe(0);
    expect(r.text).toBe(printed.slice(0, 4096));
  });
});
