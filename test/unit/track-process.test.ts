import { spawn } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { argv0, countProcesses, matchesProcess, parseStat } from "../../src/sys/track-process.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "vigil-track-process-"));
  dirs.push(d);
  return d;
}

/** A fake /proc: pid -> [stat line, cmdline]. */
function fakeProc(entries: Record<number, [string, string]>): string {
  const root = tmp();
  for (const [pid, [stat, cmdline]] of Object.entries(entries)) {
    mkdirSync(join(root, pid));
    writeFileSync(join(root, pid, "stat"), stat);
    writeFileSync(join(root, pid, "cmdline"), cmdline);
  }
  writeFileSync(join(root, "uptime"), "1.0 1.0\n");
  mkdirSync(join(root, "self"));
  return root;
}

describe("parsing /proc", () => {
  it("reads the name and state, also when the name holds spaces and parentheses", () => {
    expect(parseStat("42 (node_exporter) S 1 42 42 0")).toEqual({ comm: "node_exporter", state: "S" });
    expect(parseStat("7 (Web (Content) x) R 1 7")).toEqual({ comm: "Web (Content) x", state: "R" });
    expect(parseStat("garbage")).toBeNull();
    expect(parseStat("1 (x)")).toBeNull();
    expect(argv0("/usr/bin/node_exporter\0--web.listen-address=:9100\0")).toBe("/usr/bin/node_exporter");
    expect(argv0("")).toBe("");
  });

  it("matches exactly, like keepalived, never a substring", () => {
    const stat = "1 (sshd) S 1";
    expect(matchesProcess("sshd", stat, () => "/usr/sbin/sshd\0")).toBe(true);
    expect(matchesProcess("ssh", stat, () => "/usr/sbin/sshd\0")).toBe(false);
    expect(matchesProcess("/usr/sbin/sshd", stat, () => "/usr/sbin/sshd\0-D\0")).toBe(true);
    expect(matchesProcess("/sbin/sshd", stat, () => "/usr/sbin/sshd\0")).toBe(false);
    expect(matchesProcess("sshd", "1 (sshd) Z 1", () => "")).toBe(false);
  });
});

describe("countProcesses", () => {
  it("counts live processes by name in a /proc tree, skipping zombies and non-process entries", () => {
    const proc = fakeProc({
      10: ["10 (nginx) S 1", "nginx: master process\0"],
      11: ["11 (nginx) S 10", "nginx: worker process\0"],
      12: ["12 (nginx) Z 10", ""],
      13: ["13 (bash) S 1", "bash\0"],
      // The kernel keeps 15 bytes of the name; argv[0] tells the rest.
      14: ["14 (a-very-long-dae) S 1", "/opt/bin/a-very-long-daemon\0-x\0"],
      15: ["15 (a-very-long-dae) S 1", "/opt/bin/a-very-long-daemon2\0"],
    });
    expect(countProcesses("nginx", { procDir: proc })).toEqual({ ok: true, count: 2, pids: [10, 11] });
    expect(countProcesses("a-very-long-daemon", { procDir: proc })).toEqual({ ok: true, count: 1, pids: [14] });
    expect(countProcesses("/opt/bin/a-very-long-daemon2", { procDir: proc })).toEqual({ ok: true, count: 1, pids: [15] });
    expect(countProcesses("httpd", { procDir: proc })).toEqual({ ok: true, count: 0, pids: [] });
  });

  it("says why when /proc cannot be read, or the name is empty", () => {
    const r = countProcesses("nginx", { procDir: "/nonexistent/proc" });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.message).toMatch(/^track process nginx: cannot list \/nonexistent\/proc: /);
    expect(countProcesses("")).toEqual({ ok: false, message: "track process: the process name is empty" });
  });

  it("sees a real process come and go", async () => {
    const dir = tmp();
    const name = `vgl${process.pid % 100000}t`;
    const exe = join(dir, name);
    copyFileSync("/bin/sleep", exe);
    expect(countProcesses(name)).toMatchObject({ ok: true, count: 0 });
    const child = spawn(exe, ["30"], { stdio: "ignore" });
    const exited = new Promise((r) => child.on("exit", r));
    try {
      // Until it has exec'd, the child still carries our own name.
      for (let i = 0; i < 100 && (countProcesses(name) as { count: number }).count === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(countProcesses(name)).toEqual({ ok: true, count: 1, pids: [child.pid] });
      expect(countProcesses(exe)).toEqual({ ok: true, count: 1, pids: [child.pid] });
    } finally {
      child.kill("SIGKILL");
      await exited;
    }
    expect(countProcesses(name)).toMatchObject({ ok: true, count: 0 });
  });
});
