/**
 * A module's `service:` resource on the real binary: vigil runs
 * `systemctl start UNIT` when it takes the module and `systemctl stop UNIT`
 * when it lets it go. This machine has no systemd, so a stand-in
 * `systemctl` first on PATH records its arguments; what is under test is
 * vigil's side: the command, the order beside the scripts, and the stop on
 * SIGTERM.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { type Daemon, startDaemon } from "./vigil-binary.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

it("starts the unit after the script before it, and stops it first on SIGTERM", async () => {
  const dir = mkdtempSync(join(tmpdir(), "vigil-service-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, "bin");
  const calls = join(dir, "calls.log");
  mkdirSync(bin);
  writeFileSync(join(bin, "systemctl"), `#!/bin/sh\necho "systemctl $*" >> "${calls}"\n`);
  chmodSync(join(bin, "systemctl"), 0o755);
  for (const step of ["start", "stop"]) {
    writeFileSync(join(dir, `prep-${step}.sh`), `#!/bin/sh\necho "prep ${step}" >> "${calls}"\n`);
    chmodSync(join(dir, `prep-${step}.sh`), 0o755);
  }
  writeFileSync(join(dir, "vigil.yaml"), [
    "cluster:",
    "  name: svc",
    "  nodes: [{ name: solo, addresses: [127.0.0.1] }]",
    "modules:",
    "  - name: app",
    "    type: failover",
    "    resources:",
    "      - { start: ./prep-start.sh, stop: ./prep-stop.sh }",
    "      - { service: demo-app.service }",
    'web: { listen: "127.0.0.1:0" }',
    "",
  ].join("\n"));

  const savedPath = process.env.PATH;
  process.env.PATH = `${bin}:${savedPath ?? ""}`;
  let d: Daemon;
  try {
    d = startDaemon(["run", "--config", join(dir, "vigil.yaml"), "--state-dir", join(dir, "state"), "--node", "solo"]);
  } finally {
    process.env.PATH = savedPath;
  }
  cleanups.push(async () => {
    if (d.proc.exitCode === null) d.proc.kill("SIGKILL");
    await d.exited;
  });

  await d.waitForLog(/module app start .*demo-app\.service.* ok|systemctl start demo-app\.service: exited 0/);
  d.proc.kill("SIGTERM");
  expect(await d.exited).toBe(0);

  expect(existsSync(calls)).toBe(true);
  const lines = readFileSync(calls, "utf8").trim().split("\n");
  // At start every resource is stopped once (a previous run may have left it up), in reverse order.
  expect(lines).toEqual([
    "systemctl stop demo-app.service",
    "prep stop",
    "prep start",
    "systemctl start demo-app.service",
    "systemctl stop demo-app.service",
    "prep stop",
  ]);
});
