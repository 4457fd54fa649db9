import { createSocket } from "node:dgram";
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { DAEMON_RUNTIME_OPTIONS } from "../../src/daemon/runtime-options.ts";
import { type Daemon, startDaemon, vigil } from "./vigil-binary.ts";

const running: Daemon[] = [];
afterEach(async () => {
  for (const d of running.splice(0)) {
    if (d.proc.exitCode === null) d.proc.kill("SIGKILL");
    await d.exited;
  }
});

async function freeUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** A one-node daemon whose module's start script writes the environment it got to child-env. */
async function setup() {
  const dir = mkdtempSync(join(tmpdir(), "vigil-runtime-options-"));
  writeFileSync(join(dir, "start.sh"), '#!/bin/sh\nenv > "$(dirname "$0")/child-env.tmp" && mv "$(dirname "$0")/child-env.tmp" "$(dirname "$0")/child-env"\n');
  writeFileSync(join(dir, "stop.sh"), "#!/bin/sh\nexit 0\n");
  chmodSync(join(dir, "start.sh"), 0o755);
  chmodSync(join(dir, "stop.sh"), 0o755);
  expect(vigil(["keygen", join(dir, "vigil.key")]).code).toBe(0);
  writeFileSync(join(dir, "vigil.yaml"), [
    "cluster:",
    "  name: lab",
    "  key_file: vigil.key",
    `  heartbeat: { initdead: 500ms, port: ${await freeUdpPort()} }`,
    "  nodes:",
    "    - { name: solo, addresses: [127.0.0.1] }",
    // The peer never runs: its address stays on loopback so nothing leaves the machine.
    "    - { name: other, addresses: [127.0.0.2] }",
    'web: { listen: "127.0.0.1:0" }',
    "console: { tls: false }",
    "modules:",
    "  - name: svc",
    "    type: failover",
    "    resources:",
    "      - { start: ./start.sh, stop: ./stop.sh }",
    "",
  ].join("\n"));
  return { dir, args: ["run", "--config", join(dir, "vigil.yaml"), "--state-dir", join(dir, "state"), "--node", "solo"] };
}

function environ(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
    const i = kv.indexOf("=");
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

async function childEnv(dir: string, d: Daemon): Promise<string> {
  const file = join(dir, "child-env");
  for (let i = 0; i < 600 && !existsSync(file); i++) {
    if (d.proc.exitCode !== null) throw new Error(`daemon exited ${d.proc.exitCode}: ${d.log()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return readFileSync(file, "utf8");
}

describe("the daemon's runtime options", () => {
  it("vigil run starts again in place with them, without the runtime's compiler and collector threads; what it starts does not inherit them", async () => {
    const { dir, args } = await setup();
    const d = startDaemon(args);
    running.push(d);
    await d.waitForLog(/vigil started/);
    const pid = d.proc.pid ?? 0;
    // The same process (the pid the test spawned), now with the options in the environment it was started with.
    const env = environ(pid);
    for (const [k, v] of Object.entries(DAEMON_RUNTIME_OPTIONS)) expect(env[k], k).toBe(v);
    const threads = readdirSync(`/proc/${pid}/task`).map((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, "utf8").trim());
    expect(threads.filter((t) => /JITWorker|HeapHelper/.test(t)), `threads: ${threads.join(", ")}`).toEqual([]);
    const child = await childEnv(dir, d);
    expect(child).not.toMatch(/^(BUN_JSC_|VIGIL_RUNTIME_OPTIONS)/m);
  });

  it("VIGIL_RUNTIME_OPTIONS=off runs on the runtime's defaults and leaves the switch to the children", async () => {
    const { dir, args } = await setup();
    const before = process.env.VIGIL_RUNTIME_OPTIONS;
    process.env.VIGIL_RUNTIME_OPTIONS = "off";
    let d: Daemon;
    try {
      d = startDaemon(args);
    } finally {
      if (before === undefined) delete process.env.VIGIL_RUNTIME_OPTIONS;
      else process.env.VIGIL_RUNTIME_OPTIONS = before;
    }
    running.push(d);
    await d.waitForLog(/vigil started/);
    const env = environ(d.proc.pid ?? 0);
    for (const k of Object.keys(DAEMON_RUNTIME_OPTIONS)) expect(env[k], k).toBeUndefined();
    expect(await childEnv(dir, d)).toMatch(/^VIGIL_RUNTIME_OPTIONS=off$/m);
  });
});
