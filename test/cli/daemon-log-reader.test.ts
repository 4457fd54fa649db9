/**
 * The daemon's log on stderr when the reader does not keep up (a stuck
 * journald, `vigil run 2>&1 | less` left on a page, a terminal paused with
 * Ctrl-S): stderr holds at most about a megabyte for it (src/daemon/log.ts,
 * src/sys/outlet.ts), the lines beyond are dropped there and counted (the log
 * file has each of them), and a stop's lines still arrive whole, up to
 * "vigil stopped". A reader that never reads again keeps a stopped daemon
 * from exiting for a bounded time only.
 *
 * The log is made large through the public surface: each SIGHUP with an
 * invalid config logs one line per problem (2000 problems, ~400 KB). The
 * reader pauses (Node stops reading the child's socket) until the daemon's
 * log file says every reload was rejected, so the daemon always meets a full
 * pipe. No verdict rests on time, except that a daemon that never exits
 * fails by the guard. The node has no peer, so nothing is logged after
 * "vigil stopped" (a write after the end of stderr would end the wait by
 * its error, as a pending burst summary once did).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { soloNode } from "./solo-node.ts";
import { requireBinary, VIGIL } from "./vigil-binary.ts";

/** Only a guard against a daemon that never exits; a reload of the invalid config takes ~1 s of CPU. */
const TIMEOUT_MS = 180_000;
/** Reloads while the reader pauses: ~3.2 MB of lines, three times what stderr may hold and the socket takes. */
const RELOADS = 8;
const NOTICE = "log lines not written to stderr";

/** The solo node's config with 2000 problems (one bad start_timeout per resource). */
function invalidConfig(valid: string): string {
  const lines = [valid.replace(/\n*$/, ""), "modules:"];
  for (let m = 1; m <= 40; m++) {
    lines.push(`  - name: app${m}`, "    type: failover", "    resources:");
    for (let r = 1; r <= 50; r++) lines.push(`      - { start: /opt/app${m}/lib/vigil/resource-${r}/start-service.sh, stop: /opt/x/stop.sh, start_timeout: soon }`);
  }
  return lines.join("\n") + "\n";
}

async function until(cond: () => boolean, what: string, proc: ChildProcess): Promise<void> {
  const end = Date.now() + TIMEOUT_MS;
  while (!cond()) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`vigil exited (${proc.exitCode ?? proc.signalCode}) before ${what}`);
    if (Date.now() > end) throw new Error(`never saw ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const count = (text: string, needle: string): number => text.split(needle).length - 1;

const started: ChildProcess[] = [];
afterEach(() => {
  for (const p of started.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
});

/** A solo node whose stderr the test reads (and can stop reading), and its log file. */
async function runNode(prefix: string) {
  requireBinary();
  const node = await soloNode(prefix);
  // No peer: no warnings of a late heartbeat round while a reload blocks, nothing logged after "vigil stopped".
  writeFileSync(node.config, readFileSync(node.config, "utf8").replace(/^.*name: other.*\n/m, ""));
  const proc = spawn(VIGIL, node.runArgs, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, VIGIL_CONFIG: "" } });
  started.push(proc);
  const stderr = proc.stderr!;
  stderr.setEncoding("utf8");
  let text = "";
  // A listener from the start: a pause stops the reads, and nothing is lost to a late subscriber.
  stderr.on("data", (c: string) => (text += c));
  const closed = new Promise<number | null>((resolve) => proc.on("close", (code) => resolve(code)));
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  const logFile = join(node.state, "vigil.log");
  const fileText = (): string => {
    try {
      return readFileSync(logFile, "utf8");
    } catch {
      return "";
    }
  };
  await until(() => text.includes("vigil started"), '"vigil started" on stderr', proc);
  /** Stops reading stderr, then has the daemon log `reloads` x 2000 problem lines (all in its log file). */
  const floodWhilePaused = async (reloads: number): Promise<void> => {
    stderr.pause();
    writeFileSync(node.config, invalidConfig(readFileSync(node.config, "utf8")));
    for (let i = 1; i <= reloads; i++) {
      proc.kill("SIGHUP");
      await until(() => count(fileText(), "reload rejected") >= i, `reload ${i} rejected in the log file`, proc);
    }
  };
  return { proc, stderr, text: () => text, fileText, closed, exited, floodWhilePaused };
}

describe("the daemon's stderr with a reader that does not keep up", () => {
  it("holds a bounded backlog: drops lines beyond it, says how many, and still delivers the stop whole", async () => {
    const n = await runNode("vigil-logreader-");
    await n.floodWhilePaused(RELOADS);
    n.stderr.resume();
    // Either the daemon says it dropped lines, or everything arrives (a daemon that keeps every line for the reader).
    await until(() => n.fileText().includes(NOTICE) || count(n.text(), "config error") >= RELOADS * 2000, "the reader caught up", n.proc);
    n.proc.kill("SIGTERM");
    expect(await n.closed).toBe(0);

    const afterStart = (t: string): string[] => {
      const lines = t.split("\n").filter((l) => l !== "");
      return lines.slice(lines.findIndex((l) => l.includes("vigil started")));
    };
    const onStderr = afterStart(n.text());
    const inFile = afterStart(n.fileText());
    expect(count(n.fileText(), "config error")).toBe(RELOADS * 2000);
    const notices = onStderr.filter((l) => l.includes(NOTICE));
    expect(notices, "a line on stderr that says lines were dropped").toHaveLength(1);
    const dropped = Number(/ lines=(\d+)/.exec(notices[0]!)?.[1]);
    // Most of what was logged while the reader paused was dropped: stderr held a bounded amount of it.
    expect(dropped).toBeGreaterThan(RELOADS * 1000);
    // Exactly the dropped lines are missing, all of them logged while the reader paused, and the rest arrived in order.
    expect(inFile.length - onStderr.length).toBe(dropped);
    const got = new Set(onStderr);
    const missing = inFile.map((l, i) => (got.has(l) ? -1 : i)).filter((i) => i >= 0);
    const floodFrom = inFile.findIndex((l) => l.includes("config error"));
    const noticeAt = inFile.findIndex((l) => l.includes(NOTICE));
    expect(missing.every((i) => i >= floodFrom && i < noticeAt)).toBe(true);
    const fileOrder = new Map(inFile.map((l, i) => [l, i]));
    const positions = onStderr.map((l) => fileOrder.get(l) ?? -1);
    expect(positions.every((p, i) => p >= 0 && (i === 0 || p > positions[i - 1]!))).toBe(true);
    // The stop's lines are never dropped.
    expect(onStderr.at(-1)).toContain("vigil stopped");
    expect(onStderr.some((l) => / info +stopping /.test(l))).toBe(true);
  }, TIMEOUT_MS);

  it("lets a stopped daemon exit while its stderr's reader never reads again", async () => {
    const n = await runNode("vigil-logstall-");
    await n.floodWhilePaused(3);
    n.proc.kill("SIGTERM");
    // Without a bound the process waits for its stderr for ever after "vigil stopped" (until the guard).
    expect(await n.exited).toBe(0);
    expect(n.fileText()).toContain("vigil stopped");
    n.stderr.destroy();
  }, TIMEOUT_MS);
});
