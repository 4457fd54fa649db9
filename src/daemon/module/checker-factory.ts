/**
 * Turns a checker of vigil.yaml (config/types.ts) into a runnable checker
 * (sys/checkers) plus the timing its schedule needs. The module core knows
 * each checker by `checkerName`, so results must be reported under it.
 *
 * Paths in a loaded config are already absolute; `baseDir` (the config
 * file's folder) only matters for a config built by hand with relative ones.
 */
import { resolve } from "node:path";
import type { Checker as ConfigChecker } from "../../config/types.ts";
import { checkerName } from "../../config/checker-name.ts";
import { customChecker } from "../../sys/checkers/custom.ts";
import { fileChecker } from "../../sys/checkers/file.ts";
import { httpChecker, type StatusExpectation } from "../../sys/checkers/http.ts";
import { interfaceChecker } from "../../sys/checkers/interface.ts";
import { pingChecker, probeChecker } from "../../sys/checkers/ping.ts";
import { processChecker } from "../../sys/checkers/process.ts";
import { parseHostPort, tcpChecker } from "../../sys/checkers/tcp.ts";
import type { Checker } from "../../sys/checkers/types.ts";
import type { ScriptContext } from "../../sys/run-script.ts";

export { checkerName };

/** A checker that fails every run with `detail`: a target the config check should have refused. */
function broken(kind: Checker["kind"], target: string, detail: string): Checker {
  return { kind, target, run: async () => ({ ok: false, detail, durationMs: 0 }) };
}

function httpStatus(status: readonly number[] | undefined): StatusExpectation | undefined {
  if (status === undefined || status.length === 0) return undefined;
  return status.length === 1 ? (status[0] as number) : status;
}

/** `context` (module, node) becomes the VIGIL_* variables of a custom command. */
export function buildModuleChecker(c: ConfigChecker, baseDir: string, context?: ScriptContext): Checker {
  const timeoutMs = c.timeout;
  const path = (p: string): string => resolve(baseDir, p);
  if ("tcp" in c) {
    const hp = parseHostPort(c.tcp);
    return hp.ok ? tcpChecker({ host: hp.host, port: hp.port, timeoutMs }) : broken("tcp", c.tcp, hp.message);
  }
  if ("http" in c) {
    const status = httpStatus(c.status);
    return httpChecker({
      url: c.http,
      timeoutMs,
      rejectUnauthorized: c.tls_verify,
      ...(status === undefined ? {} : { status }),
      ...(c.body === undefined ? {} : { body: c.body }),
    });
  }
  if ("process" in c) {
    if (c.pidfile !== undefined) return processChecker({ pidfile: path(c.pidfile), name: c.process });
    return processChecker({ name: c.process, ...(c.min === undefined ? {} : { min: c.min }) });
  }
  if ("pidfile" in c) return processChecker({ pidfile: path(c.pidfile) });
  if ("ping" in c) {
    if (c.protocol === "icmp") return pingChecker({ address: c.ping, timeoutMs });
    return probeChecker({ address: c.ping, port: c.port ?? 0, protocol: c.protocol, timeoutMs });
  }
  if ("interface" in c) return interfaceChecker({ name: c.interface });
  if ("file" in c) {
    if (c.contains !== undefined) return fileChecker({ path: path(c.file), expect: "contains", match: c.contains });
    return fileChecker({ path: path(c.file), expect: c.exists ? "exists" : "absent" });
  }
  return customChecker({
    command: path(c.custom),
    timeoutMs,
    ...(c.args === undefined ? {} : { args: c.args }),
    ...(context === undefined ? {} : { context }),
  });
}
