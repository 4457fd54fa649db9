import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { dispatch } from "../../src/cli/dispatch.ts";
import { daemonEntries } from "../../src/daemon/entry.ts";
import { helpFor } from "../../src/cli/help.ts";
import type { Io } from "../../src/cli/io.ts";
import type { ModuleCommandOutcome, ModuleCommandRequest, ModuleControl, ModuleStatus } from "../../src/api/modules.ts";
import { serveFetch, type RunningServer } from "../../src/daemon/http-server.ts";
import type { StatusSnapshot } from "../../src/api/status.ts";
import { createConsoleApp } from "../../web/app.ts";
import { deriveCommandToken } from "../../src/api/command-token.ts";

const EXAMPLES = fileURLToPath(new URL("../../examples/", import.meta.url));

const vms: ModuleStatus = {
  name: "vms", type: "failover", state: "PRIM", prefer: "vms1", failback: "auto",
  nodes: [{ node: "vms1", role: "PRIM", generation: 4 }, { node: "vms2", role: "SECOND", generation: 4 }],
  lastTransition: null, checkers: [], blocked: null, restarts: 0, pending: null, witness: null, lease: null,
};

/** The module engine behind the fake daemon: records requests, answers as told. */
class FakeModules implements ModuleControl {
  requests: ModuleCommandRequest[] = [];
  answer: ModuleCommandOutcome | null = null;
  statuses(): ModuleStatus[] {
    return [vms];
  }
  command(req: ModuleCommandRequest): Promise<ModuleCommandOutcome> {
    this.requests.push(req);
    return Promise.resolve(this.answer ?? {
      ok: true, module: req.module, command: req.command, detail: "vms2 is PRIM",
      nodes: [{ node: "vms1", role: "SECOND", generation: 5 }, { node: "vms2", role: "PRIM", generation: 5 }],
    });
  }
}
const engine = new FakeModules();

function snapshot(): StatusSnapshot {
  return {
    version: "0.1.0", node: { name: "vms1", addresses: ["198.51.100.11"] }, cluster: { name: "vms-pair" }, pid: 1,
    startedAt: "2026-11-22T08:00:00.000Z", uptimeMs: 1, configFile: "/etc/vigil/vigil.yaml", stateDir: "/var/lib/vigil",
    web: { listen: "0.0.0.0:9010" }, peers: [], modules: [vms], events: [],
  };
}

function capture(): Io & { stdout: () => string; stderr: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    env: {},
    stdout: () => out.join("\n"),
    stderr: () => err.join("\n"),
  };
}

async function vigil(...argv: string[]) {
  const io = capture();
  const code = await dispatch(argv, io, daemonEntries);
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

/** Who sent a command, as the daemon logs it: the control socket and what the CLI says of itself. */
const FROM_CLI = expect.stringMatching(/^control socket \(vigil pid=\d+ uid=\d+, as the client says\)$/);

describe("module command verbs against a daemon on the control socket", () => {
  let dir: string;
  let daemon: RunningServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "vigil-cli-modules-"));
    // As the daemon serves it: the socket instance needs no token.
    const app = createConsoleApp({ status: snapshot, metrics: () => "", modules: engine, commands: "socket" });
    daemon = await serveFetch(app.fetch, { path: join(dir, "vigil.sock") });
  });
  afterAll(async () => {
    await daemon?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    engine.requests = [];
    engine.answer = null;
  });

  it("swap prints what happened and each node's role, and exits 0", async () => {
    const r = await vigil("swap", "vms", "--state-dir", dir);
    expect(r).toEqual({ code: 0, stdout: "swap vms: done: vms2 is PRIM\n  vms1  SECOND\n  vms2  PRIM", stderr: "" });
    expect(engine.requests).toEqual([{ module: "vms", command: "swap", yes: false, timeoutMs: 30_000, source: FROM_CLI }]);
  });

  it.each(["stop", "start", "restart", "prim", "second"])("%s asks the daemon for that command", async (command) => {
    const r = await vigil(command, "vms", "--state-dir", dir, "--timeout", "1m");
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe(`${command} vms: done: vms2 is PRIM`);
    expect(engine.requests).toEqual([{ module: "vms", command, yes: false, timeoutMs: 60_000, source: FROM_CLI }]);
  });

  it("exits 1 and says failed on stderr when the cluster did not get there", async () => {
    engine.answer = {
      ok: false, module: "vms", command: "prim", detail: "vms was not handed over to us within 5000 ms",
      nodes: [{ node: "vms1", role: "SECOND", generation: 5 }, { node: "vms2", role: "dead", generation: null }],
    };
    const r = await vigil("prim", "vms", "--state-dir", dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("prim vms: failed: vms was not handed over to us within 5000 ms\n  vms1  SECOND\n  vms2  dead");
  });

  it("--json prints the outcome as the API gave it, whatever it says", async () => {
    const ok = await vigil("second", "vms", "--state-dir", dir, "--json");
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({
      ok: true, module: "vms", command: "second", detail: "vms2 is PRIM",
      nodes: [{ node: "vms1", role: "SECOND", generation: 5 }, { node: "vms2", role: "PRIM", generation: 5 }],
    });
    engine.answer = { ok: false, module: "vms", command: "swap", detail: "no other node could take vms", nodes: [] };
    const failed = await vigil("swap", "vms", "--state-dir", dir, "--json");
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({ ok: false, detail: "no other node could take vms" });
  });

  it("forceprim without --yes explains the risk, exits 1 and never asks the daemon", async () => {
    const r = await vigil("forceprim", "vms", "--state-dir", dir);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")[0]).toBe("forceprim refused: --yes is missing.");
    expect(r.stderr).toContain("both nodes serve clients and write the same data (split brain)");
    expect(r.stderr).toContain("vigil prim");
    expect(engine.requests).toEqual([]);
  });

  it("forceprim --yes goes ahead", async () => {
    const r = await vigil("forceprim", "vms", "--yes", "--state-dir", dir);
    expect(r.code).toBe(0);
    expect(engine.requests).toEqual([{ module: "vms", command: "forceprim", yes: true, timeoutMs: 30_000, source: FROM_CLI }]);
  });

  it("--yes belongs to forceprim only", async () => {
    const r = await vigil("swap", "vms", "--yes", "--state-dir", dir);
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe("vigil: unknown flag --yes");
  });

  it("an unknown module is a usage error naming the modules there are", async () => {
    const r = await vigil("swap", "nope", "--state-dir", dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('vigil swap: no module "nope" is configured (modules: vms)');
    expect(engine.requests).toEqual([]);
  });

  it.each([
    [["swap", "--state-dir"], "vigil: flag --state-dir needs a value"],
    [["swap"], 'vigil: missing argument for "swap"'],
    [["swap", "vms", "web"], 'vigil: unexpected argument "web" for "swap"'],
    [["swap", ""], "vigil: MODULE must not be empty"],
    [["swap", "vms", "--timeout", "soon"], 'vigil: --timeout "soon" is not a duration; write it like "30s" or "2m" (1s to 10m)'],
    [["swap", "vms", "--timeout", "0s"], "vigil: --timeout 0s is out of range; use 1s to 10m"],
    [["stop", "vms", "--timeout", "11m"], "vigil: --timeout 11m is out of range; use 1s to 10m"],
  ])("usage error %j: one line, the usage, exit 2", async (argv, line) => {
    const r = await vigil(...argv, ...(argv.includes("--state-dir") ? [] : ["--state-dir", dir]));
    expect(r.code).toBe(2);
    expect(r.stderr.split("\n")[0]).toBe(line);
    expect(r.stderr).toContain(`Usage: vigil ${argv[0]} MODULE [--timeout 30s] [--json] [--state-dir DIR]`);
    expect(engine.requests).toEqual([]);
  });
});

describe("module command verbs without a daemon", () => {
  it("exit 3 and say so when no daemon runs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-cli-nodaemon-"));
    try {
      const r = await vigil("swap", "vms", "--state-dir", dir);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`no vigil daemon is running with state dir ${dir}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("exit 1 when the daemon runs no module engine", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-cli-noengine-"));
    const app = createConsoleApp({ status: snapshot, metrics: () => "", commands: "socket" });
    const server = await serveFetch(app.fetch, { path: join(dir, "vigil.sock") });
    try {
      const r = await vigil("stop", "vms", "--state-dir", dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toBe("vigil stop: this daemon runs no module engine, so it cannot carry out module commands");
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("help for the module verbs", () => {
  it.each(["swap", "stop", "start", "restart", "prim", "second", "forceprim"])("vigil help %s shows usage, flags and exit codes", async (verb) => {
    const r = await vigil("help", verb);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: vigil ${verb} MODULE \\[--timeout 30s\\] \\[--json\\] \\[--state-dir DIR\\]`));
    expect(r.stdout).toContain("--timeout DUR");
    expect(r.stdout).toContain("Exit status: 0 done, 1 refused or not reached in time, 2 usage error, 3 no daemon.");
    expect(helpFor(undefined).text).toMatch(new RegExp(`^  ${verb} +\\S`, "m"));
  });

  it("forceprim's help states the risk and the --yes flag", () => {
    const h = helpFor("forceprim").text;
    expect(h).toMatch(/^Usage: vigil forceprim MODULE .* --yes$/m);
    expect(h).toContain("split brain");
    expect(h).toMatch(/--yes +confirm that no other node runs the module/);
  });
});

describe("vigil token", () => {
  it("prints HMAC-SHA256(cluster key, \"vigil console commands\") for the config's key", async () => {
    const r = await vigil("token", "--config", join(EXAMPLES, "vip-failover", "vigil.yaml"));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(deriveCommandToken(readFileSync(join(EXAMPLES, "vip-failover", "vigil.key"))));
  });

  it("fails naming the reason when the config has no key", async () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-token-"));
    const file = join(dir, "vigil.yaml");
    writeFileSync(file, "cluster:\n  name: solo\n  nodes: [{ name: solo, addresses: [127.0.0.1] }]\n");
    try {
      const r = await vigil("token", "--config", file);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(new RegExp(`^${file}: cluster.key_file is not set`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("fails with the search's message when there is no config", async () => {
    const r = await vigil("token", "--config", "/nonexistent/vigil.yaml");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("/nonexistent/vigil.yaml");
  });
});
