/**
 * `vigil __fence` (the fallback fencing watchdog, src/daemon/fence/child.ts)
 * after the daemon was SIGKILLed: its only stderr reader is gone, so what it
 * removed and stopped must be written to the daemon's log file, which the
 * daemon named in a `logfile` message.
 *
 * A stand-in for the daemon (a Node process, in a network namespace of its
 * own so the VIP is real and private) holds the child's pipes, adds a VIP on
 * lo, arms a module with that VIP and a stop script, and is then SIGKILLed.
 * The child fences the module (stdin closed) and leaves; vigil.log must hold
 * its lines after the line already there, in the format it was told. No
 * verdict rests on time: a line that never comes fails by the test's timeout.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { VIGIL, requireBinary } from "./vigil-binary.ts";

const VIP = "192.0.2.77/32";
const root = process.getuid?.() === 0;

/** The daemon's part: add the VIP, start the watchdog, tell it the log file and arm, print its PID, then wait. */
const STAND_IN = `
const { spawn, execFileSync } = require("node:child_process");
const [vigil, logfile, format, stop] = process.argv.slice(1);
execFileSync("ip", ["link", "set", "lo", "up"]);
execFileSync("ip", ["addr", "add", "${VIP}", "dev", "lo"]);
const child = spawn(vigil, ["__fence"], { stdio: ["pipe", "ignore", "pipe"] });
child.stderr.on("data", () => {});
const arm = { type: "arm", module: "svc", inMs: 600000, vips: [{ address: "${VIP}", interface: "lo" }], stops: [{ command: "/bin/sh", args: [stop], timeoutMs: 10000, env: {} }] };
child.stdin.write(JSON.stringify({ type: "logfile", path: logfile, format }) + "\\n" + JSON.stringify(arm) + "\\n", () => process.stdout.write(child.pid + "\\n"));
setInterval(() => {}, 60000);
`;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function linesOnceFenced(file: string): Promise<string[]> {
  for (;;) {
    const text = existsSync(file) ? readFileSync(file, "utf8") : "";
    if (text.includes("fence watchdog: module fenced")) return text.split("\n").filter((l) => l !== "");
    await new Promise((r) => setTimeout(r, 50));
  }
}

function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

/** Starts the stand-in, waits for the watchdog's PID, SIGKILLs the stand-in; the watchdog's PID. */
async function killDaemonWithArmedVip(dir: string, format: "text" | "json"): Promise<number> {
  const stop = join(dir, "stop.sh");
  // What is still on lo when the stop runs: the VIP must be gone by then (VIPs first).
  writeFileSync(stop, `ip -o addr show dev lo > ${join(dir, "lo-at-stop")}\n`);
  const standIn = spawn("unshare", ["-n", "--", process.execPath, "-e", STAND_IN, VIGIL, join(dir, "vigil.log"), format, stop], { stdio: ["ignore", "pipe", "inherit"] });
  const pid = await new Promise<number>((resolve, reject) => {
    let out = "";
    standIn.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      if (out.includes("\n")) resolve(Number(out.trim()));
    });
    standIn.on("exit", (code) => reject(new Error(`stand-in exited ${code}`)));
  });
  expect(pid).toBeGreaterThan(1);
  // The lines are in the pipe (the PID is printed once they are): the child reads them even after the writer is gone.
  standIn.kill("SIGKILL");
  return pid;
}

describe.skipIf(!root)("vigil __fence after the daemon died", () => {
  it("writes what it removed and stopped to the daemon's log file (text format)", async () => {
    requireBinary();
    const dir = mkdtempSync(join(tmpdir(), "vigil-fence-log-"));
    dirs.push(dir);
    writeFileSync(join(dir, "vigil.log"), "2026-12-07T09:00:00.000Z info  vigil started node=h1\n");
    const pid = await killDaemonWithArmedVip(dir, "text");
    const lines = await linesOnceFenced(join(dir, "vigil.log"));
    expect(lines[0]).toBe("2026-12-07T09:00:00.000Z info  vigil started node=h1");
    const rest = lines.slice(1).join("\n");
    expect(rest).toMatch(/^\S+Z warn  fence watchdog: the daemon is gone; fencing what is still armed now modules=svc$/m);
    expect(rest).toMatch(/^\S+Z warn  fence watchdog: VIP removed module=svc vip=192\.0\.2\.77\/32 interface=lo$/m);
    expect(rest).toMatch(/^\S+Z warn  fence watchdog: stop ran module=svc /m);
    expect(rest).toMatch(/^\S+Z warn  fence watchdog: module fenced module=svc$/m);
    expect(readFileSync(join(dir, "lo-at-stop"), "utf8")).not.toContain("192.0.2.77");
    while (!pidGone(pid)) await new Promise((r) => setTimeout(r, 50));
  }, 60_000);

  it("writes them as JSON when the daemon logs JSON", async () => {
    requireBinary();
    const dir = mkdtempSync(join(tmpdir(), "vigil-fence-log-"));
    dirs.push(dir);
    const pid = await killDaemonWithArmedVip(dir, "json");
    const lines = (await linesOnceFenced(join(dir, "vigil.log"))).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toContainEqual(expect.objectContaining({ level: "warn", msg: "fence watchdog: VIP removed", module: "svc", vip: VIP, interface: "lo" }));
    expect(lines).toContainEqual(expect.objectContaining({ level: "warn", msg: "fence watchdog: module fenced", module: "svc" }));
    for (const l of lines) expect(typeof l["time"]).toBe("string");
    while (!pidGone(pid)) await new Promise((r) => setTimeout(r, 50));
  }, 60_000);
});

describe("vigil __fence with its stderr gone while the daemon lives", () => {
  it("writes its lines from then on to the daemon's log file", async () => {
    requireBinary();
    const dir = mkdtempSync(join(tmpdir(), "vigil-fence-log-"));
    dirs.push(dir);
    const child = spawn(VIGIL, ["__fence"], { stdio: ["pipe", "ignore", "pipe"] });
    // Nobody reads stderr: the first line after this fails (EPIPE) and is lost, the later ones must not be.
    child.stderr?.destroy();
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    const arm = { type: "arm", module: "svc", inMs: 200, vips: [], stops: [{ command: "/bin/true", args: [], timeoutMs: 10_000, env: {} }] };
    child.stdin?.write(JSON.stringify({ type: "logfile", path: join(dir, "vigil.log"), format: "text" }) + "\n" + JSON.stringify(arm) + "\n");
    const lines = await linesOnceFenced(join(dir, "vigil.log"));
    expect(lines.join("\n")).toMatch(/^\S+Z warn  fence watchdog: module fenced module=svc$/m);
    child.stdin?.end();
    expect(await exited).toBe(0);
  }, 60_000);
});
