import { accessSync, constants, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { formatConfigError } from "../config/errors.ts";
import { CHECKS_ONLY_ON_A_NODE } from "../config/host-checks.ts";
import { hostProblemsOfFile } from "../config/host-facts.ts";
import { identifyNode, localIPv4Addresses } from "../config/identify.ts";
import { effectiveConfigYaml, loadConfigFile } from "../config/load.ts";
import { configSchema } from "../config/schema.ts";
import { findConfigFile } from "../config/search.ts";
import { findAndLoadConfig } from "./config-arg.ts";
import { type Io, UsageError } from "./io.ts";
import { fenceTradeLines } from "./fence-trade.ts";
import { detectionLines } from "./detection-text.ts";
import { farmWitnessNotes } from "../config/farm-checks.ts";
import { vrrpHoldLines } from "./vrrp-hold-note.ts";
import type { DaemonEntries } from "../api/daemon-entries.ts";
import { checkSampleKey, keyFileWarnings } from "../api/key-checks.ts";
import { sampleKeyMessage } from "../sys/sample-keys.ts";
import { hostChecks } from "../sys/host-check.ts";
import { writeKeyFile } from "../sys/keyfile.ts";
import { EXIT } from "./verbs.ts";


type Values = Record<string, string | boolean | undefined>;

const str = (v: Values, k: string): string | undefined => (typeof v[k] === "string" ? (v[k] as string) : undefined);

export async function cmdRun(v: Values, io: Io, daemons: DaemonEntries): Promise<number> {
  const format = str(v, "log-format") ?? "text";
  if (format !== "text" && format !== "json") throw new UsageError(`--log-format must be text or json, not "${format}"`);
  const listen = str(v, "listen");
  if (listen !== undefined && !/^[^\s:]+:\d{1,5}$/.test(listen)) {
    throw new UsageError(`--listen must look like ADDRESS:PORT (for example 0.0.0.0:9010), not "${listen}"`);
  }
  return daemons.node({
    logFormat: format,
    configFlag: str(v, "config"),
    configEnv: io.env["VIGIL_CONFIG"],
    nodeName: str(v, "node"),
    stateDir: str(v, "state-dir"),
    listen,
    acceptNewKey: v["accept-new-key"] === true,
  });
}

export function cmdCheckConfig(v: Values, positionals: string[], io: Io): number {
  const found = findAndLoadConfig(positionals[0] ?? str(v, "config"), io, (file, n) => `${file}: ${n} problem${n === 1 ? "" : "s"}; the config is not valid`);
  if (found === null) return EXIT.failed;
  const nodeName = str(v, "node");
  if (nodeName !== undefined) {
    const id = identifyNode(found.config, [], nodeName);
    if (!id.ok) {
      io.err(`${found.file}: ${id.message}`);
      return EXIT.failed;
    }
  }
  if (v["print"] === true) {
    io.out(`# effective config of ${found.file} (found by ${found.how})`);
    io.out(effectiveConfigYaml(found.config).trimEnd());
    return EXIT.ok;
  }
  const c = found.config;
  // By address only: --node names a node without proving this machine is it (an admin's laptop checking the stick).
  const here = identifyNode(c, localIPv4Addresses());
  // On a node the config is also checked against this host: its scripts, interfaces and subnets.
  const host = here.ok ? hostProblemsOfFile(found.file) : [];
  const blocking = host.filter((p) => p.severity !== "warning");
  if (blocking.length > 0) {
    for (const p of blocking) io.err(formatConfigError(p));
    for (const p of host.filter((q) => q.severity === "warning")) io.err(`warning: ${formatConfigError(p)}`);
    const n = blocking.length;
    io.err(`${found.file}: valid, but ${n} problem${n === 1 ? "" : "s"} on this host (node ${here.ok ? here.node.name : "?"}): it cannot work here as it is`);
    return EXIT.failed;
  }
  // A key `vigil run` refuses makes a config that cannot run: not OK, whatever else holds.
  const sample = checkSampleKey(c, c.web.listen);
  if (!sample.ok) {
    io.err(`${found.file}: ${sampleKeyMessage(c.cluster.key_file ?? "")}; \`vigil run\` refuses it off loopback, so the config is not usable as it is`);
    return EXIT.failed;
  }
  io.out(`${found.file}: OK (found by ${describeHow(found.how)})`);
  io.out(`  cluster ${c.cluster.name}: ${c.cluster.nodes.map((n) => n.name).join(", ")}`);
  io.out(`  ${c.vrrp.length} VRRP instance(s), ${c.modules.length} module(s), console on ${c.web.listen}`);
  if (here.ok) {
    io.out(`  this machine is node ${here.node.name}: scripts, interfaces and VIP subnets checked on this host`);
  } else {
    io.out("  this machine matches no node by address (use --node NAME with vigil run); not checked from here:");
    for (const what of CHECKS_ONLY_ON_A_NODE) io.out(`    - ${what}`);
    io.out("    (run `vigil check-config` on each node; `vigil run` checks them too)");
  }
  for (const line of detectionLines(c)) io.out(line);
  for (const line of fenceTradeLines(c)) io.out(line);
  for (const line of farmWitnessNotes(c)) io.out(line);
  for (const line of vrrpHoldLines(c)) io.out(line);
  for (const p of host) io.out(`  warning: ${formatConfigError(p)}`);
  for (const w of keyFileWarnings(c)) io.out(`  warning: ${w}`);
  if (c.cluster.nodes.length > 1 && c.cluster.key_file === undefined) {
    io.out("  note: no cluster.key_file; `vigil run` refuses unauthenticated heartbeats (create one with `vigil keygen`)");
  }
  return EXIT.ok;
}

function describeHow(how: string): string {
  return { flag: "the command line", env: "$VIGIL_CONFIG", etc: "/etc/vigil", media: "removable media" }[how] ?? how;
}

export function cmdKeygen(v: Values, positionals: string[], io: Io): number {
  const file = positionals[0] as string;
  const folder = dirname(resolve(file));
  const where = folderProblem(folder);
  if (where !== undefined) {
    io.err(`cannot write ${file}: ${where}`);
    return EXIT.failed;
  }
  const r = writeKeyFile(file, { force: v["force"] === true });
  if (!r.ok) {
    io.err(r.kind === "exists"
      ? `${file} already exists; a new key would cut this node off from the cluster. Use --force to replace it.`
      : r.message);
    return EXIT.failed;
  }
  io.out(`wrote a new cluster key to ${file} (mode 0600); copy it to every node`);
  return EXIT.ok;
}

/** Why no file can be created in `folder`, said without the temp file a write would have used; undefined if it looks writable. */
function folderProblem(folder: string): string | undefined {
  try {
    if (!statSync(folder).isDirectory()) return `${folder} is not a folder`;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === "ENOENT" || code === "ENOTDIR") return `folder ${folder} does not exist`;
    if (code === "EACCES") return `this user may not enter folder ${folder}`;
    return undefined;
  }
  try {
    accessSync(folder, constants.W_OK | constants.X_OK);
  } catch {
    return `this user may not create files in folder ${folder}`;
  }
  return undefined;
}

export function cmdDoctor(v: Values, io: Io): number {
  const runtime = (process.versions as Record<string, string | undefined>)["bun"] ? "bun" : "deno" in globalThis ? "deno" : "node";
  const checks = hostChecks({ uid: process.getuid?.(), runtime });
  const found = findConfigFile({ flag: str(v, "config"), env: io.env["VIGIL_CONFIG"] });
  const loaded = found.ok ? loadConfigFile(found.file) : undefined;
  checks.push({
    name: "config",
    ok: loaded?.ok === true,
    detail: !found.ok ? found.message : loaded?.ok ? `${found.file} is valid` : `${found.file} has errors (run vigil check-config)`,
    neededBy: "vigil run",
  });
  if (found.ok && loaded?.ok === true && identifyNode(loaded.config, localIPv4Addresses()).ok) {
    const blocking = hostProblemsOfFile(found.file).filter((p) => p.severity !== "warning").length;
    checks.push({
      name: "config on this host",
      ok: blocking === 0,
      detail: blocking === 0 ? "its scripts, interfaces and VIP subnets are here" : `${blocking} problem${blocking === 1 ? "" : "s"} (run vigil check-config)`,
      neededBy: "vigil run",
    });
  }
  const width = Math.max(...checks.map((c) => c.name.length));
  for (const c of checks) {
    io.out(`${c.ok ? (c.note === true ? "note   " : "ok     ") : "MISSING"}  ${c.name.padEnd(width)}  ${c.detail}${c.ok ? "" : ` (needed by: ${c.neededBy})`}`);
  }
  return checks.every((c) => c.ok) ? EXIT.ok : EXIT.failed;
}

export function cmdSchema(io: Io): number {
  io.out(JSON.stringify(configSchema, null, 2));
  return EXIT.ok;
}

