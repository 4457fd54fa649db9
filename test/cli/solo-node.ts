/**
 * A one-node cluster for CLI tests of `vigil run`: node "solo" on 127.0.0.1,
 * and a peer "other" that never runs (its address stays on loopback, so
 * nothing leaves the machine).
 */
import { createSocket } from "node:dgram";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect } from "vitest";
import { type Daemon, vigil } from "./vigil-binary.ts";

export async function freeUdpPort(): Promise<number> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", r));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** Daemons a test started; after each test, those still running are killed and awaited. */
export function daemonsReapedAfterEach(): Daemon[] {
  const running: Daemon[] = [];
  afterEach(async () => {
    for (const d of running.splice(0)) {
      if (d.proc.exitCode === null && d.proc.signalCode === null) d.proc.kill("SIGKILL");
      await d.exited;
    }
  });
  return running;
}

export interface SoloNodeOptions {
  /** Default: a free UDP port. */
  readonly heartbeatPort?: number;
  /** Default 500ms. */
  readonly initdead?: string;
  /** Lines after `web:` (e.g. "console: { tls: false }"). */
  readonly extra?: readonly string[];
  /** Executable scripts written into the folder, by name. */
  readonly scripts?: Readonly<Record<string, string>>;
  /** With scripts start.sh and stop.sh: a failover module "svc" running them. */
  readonly module?: boolean;
}

export interface SoloNode {
  readonly dir: string;
  readonly config: string;
  readonly state: string;
  /** `vigil run` for this node. */
  readonly runArgs: string[];
}

export async function soloNode(prefix: string, opts: SoloNodeOptions = {}): Promise<SoloNode> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  for (const [name, text] of Object.entries(opts.scripts ?? {})) {
    writeFileSync(join(dir, name), text);
    chmodSync(join(dir, name), 0o755);
  }
  const config = join(dir, "vigil.yaml");
  writeFileSync(config, [
    "cluster:",
    "  name: lab",
    "  key_file: vigil.key",
    `  heartbeat: { initdead: ${opts.initdead ?? "500ms"}, port: ${opts.heartbeatPort ?? (await freeUdpPort())} }`,
    "  nodes:",
    "    - { name: solo, addresses: [127.0.0.1] }",
    "    - { name: other, addresses: [127.0.0.2] }",
    'web: { listen: "127.0.0.1:0" }',
    ...(opts.extra ?? []),
    ...(opts.module ? ["modules:", "  - name: svc", "    type: failover", "    resources:", "      - { start: ./start.sh, stop: ./stop.sh }"] : []),
    "",
  ].join("\n"));
  expect(vigil(["keygen", join(dir, "vigil.key")]).code).toBe(0);
  const state = join(dir, "state");
  return { dir, config, state, runArgs: ["run", "--config", config, "--state-dir", state, "--node", "solo"] };
}
