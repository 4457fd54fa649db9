/**
 * What `vigil run` checks before it takes the state dir and starts engines,
 * each a refusal with the reason and the fix, or a warning:
 * - a published sample key (examples/) on a node that talks to other
 *   machines: refused; the single-machine demo (every node address and the
 *   console on loopback) may use one;
 * - a state dir that others may write (mode 1777, or any world-writable
 *   mode): refused; one that others may read or enter (0755): a warning;
 * - a cluster key other than the one this node last ran with, in a config
 *   found on removable media: refused unless --accept-new-key. Someone
 *   with physical access must not be able to make a node join their own
 *   cluster by plugging in a stick.
 * - what the config needs from this host (config/host-checks.ts): a missing
 *   or non-executable script, a module VIP no interface can hold: refused;
 *   a missing interface (it may appear later), a VIP outside its
 *   interface's subnets: warnings.
 */
import { mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { formatConfigError } from "../config/errors.ts";
import type { HostFacts } from "../config/host-checks.ts";
import { hostProblemsOfFile } from "../config/host-facts.ts";
import type { VigilConfig } from "../config/types.ts";
import { writeFileAtomic } from "../sys/atomic-file.ts";
import { readKeyFile } from "../sys/keyfile.ts";
import { keyFingerprint } from "../sys/sample-keys.ts";
import type { StartCheck } from "../api/key-checks.ts";

export { checkSampleKey } from "../api/key-checks.ts";

function octal(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, "0");
}

/** A state dir that does not exist yet is fine: it is created with mode 0700. */
export function checkStateDirMode(dir: string): StartCheck {
  let mode: number;
  try {
    const st = statSync(dir);
    if (!st.isDirectory()) return { ok: false, message: `not starting: state dir ${dir} is not a directory` };
    mode = st.mode;
  } catch {
    return { ok: true, warnings: [] };
  }
  if ((mode & 0o002) !== 0) {
    return {
      ok: false,
      message: `not starting: state dir ${dir} has mode ${octal(mode)}, so anyone on this machine can write to it (replace the lock, the control socket, the module state); run \`chmod 700 ${dir}\` or use another --state-dir`,
    };
  }
  if ((mode & 0o077) !== 0) {
    return { ok: true, warnings: [`state dir ${dir} has mode ${octal(mode)}: other users can look inside; run \`chmod 700 ${dir}\``] };
  }
  return { ok: true, warnings: [] };
}

const KEY_RECORD = "cluster-key.sha256";

/**
 * Compares the config's cluster key with the one this node last ran with
 * (its SHA-256 in the state dir), and records the key it starts with
 * (unless `record` is false: a reload records only once it succeeded).
 */
export function checkKeyContinuity(config: VigilConfig, stateDir: string, o: { configHow: string; acceptNewKey: boolean; record?: boolean }): StartCheck {
  const file = config.cluster.key_file;
  if (file === undefined) return { ok: true, warnings: [] };
  const key = readKeyFile(file);
  if (!key.ok) return { ok: true, warnings: [] };
  const now = keyFingerprint(key.key);
  const record = join(stateDir, KEY_RECORD);
  let before: string | undefined;
  try {
    before = readFileSync(record, "utf8").trim();
  } catch {
    before = undefined;
  }
  const warnings: string[] = [];
  if (before !== undefined && before !== now) {
    if (o.configHow === "media" && !o.acceptNewKey) {
      return {
        ok: false,
        message: `not starting: the config on removable media (${config.cluster.name}, key ${file}) has another cluster key than the one this node ran with; if you mean this node to join that cluster, start it once with --accept-new-key`,
      };
    }
    warnings.push(`cluster key changed since this node last ran (key ${file}); nodes still holding the old key will not trust this one`);
  }
  if (before !== now && o.record !== false) {
    try {
      mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      writeFileAtomic(record, `${now}\n`);
    } catch (e) {
      warnings.push(`cannot record the cluster key's fingerprint in ${record} (${e instanceof Error ? e.message : String(e)})`);
    }
  }
  return { ok: true, warnings };
}

/** The host checks of the config file, as `vigil run` (and a reload) takes them. */
export function checkHost(file: string, facts?: HostFacts): StartCheck {
  const problems = hostProblemsOfFile(file, facts);
  const errors = problems.filter((p) => p.severity === "error");
  const warnings = problems.filter((p) => p.severity !== "error").map((p) => {
    const text = formatConfigError(p);
    return p.severity === "interface-missing" ? `${text} (waiting for it to appear)` : text;
  });
  if (errors.length === 0) return { ok: true, warnings };
  const n = errors.length;
  return { ok: false, message: `not starting: ${n} problem${n === 1 ? "" : "s"} on this host (\`vigil check-config\` lists them): ${errors.map(formatConfigError).join("; ")}` };
}
