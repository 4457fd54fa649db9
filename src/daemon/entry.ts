/**
 * The three long-running processes of the binary, as src/main.ts hands them
 * to the CLI: the node daemon (`vigil run`), the witness (`vigil witness`)
 * and the fencing watchdog child (`vigil __fence`, started by the daemon
 * itself). The CLI checks the flags; from here on the daemon logs.
 *
 * Each process imports its own code when it starts, so one does not carry the
 * others' (the fencing watchdog is not a second copy of the node daemon) and
 * the CLI's verbs load none of it.
 */
import { findConfigFile } from "../config/search.ts";
import type { DaemonEntries } from "../api/daemon-entries.ts";
import { DEFAULT_STATE_DIR, DEFAULT_WITNESS_STATE_DIR } from "../api/state-dirs.ts";
import { logUncaughtFaults } from "./fatal-log.ts";
import { FENCE_VERB, runFenceChild } from "./fence/child.ts";
import { ensureRuntimeOptions, runtimeOptionsFor, WITNESS_RUNTIME_OPTIONS } from "./runtime-options.ts";

export const daemonEntries: DaemonEntries = {
  async node(s) {
    const found = findConfigFile({ flag: s.configFlag, env: s.configEnv });
    // Before the daemon is loaded: with the runtime's options missing, this starts the process again and does not return.
    const restartFailed = ensureRuntimeOptions(runtimeOptionsFor(found.ok ? await readConfigLoosely(found.file) : null));
    const [{ Logger, boundStderr }, { runDaemon }] = await Promise.all([import("./log.ts"), import("./daemon.ts")]);
    const log = new Logger(s.logFormat);
    boundStderr(log);
    logUncaughtFaults(log);
    if (restartFailed !== undefined) log.warn("could not start again with the runtime's options: running with its defaults", { error: restartFailed });
    if (!found.ok) {
      log.error(found.message);
      return 1;
    }
    return runDaemon({
      configFile: found.file,
      configHow: found.how,
      nodeName: s.nodeName,
      stateDir: s.stateDir ?? DEFAULT_STATE_DIR,
      listen: s.listen,
      acceptNewKey: s.acceptNewKey === true,
      log,
    });
  },
  async witness(s) {
    // Before the witness is loaded: its HTTP server's mode (runtime-options.ts) is read at the process's start.
    const restartFailed = ensureRuntimeOptions(WITNESS_RUNTIME_OPTIONS);
    const [{ Logger, boundStderr }, { runWitness }] = await Promise.all([import("./log.ts"), import("./witness/daemon.ts")]);
    const log = new Logger(s.logFormat);
    boundStderr(log);
    logUncaughtFaults(log);
    if (restartFailed !== undefined) log.warn("could not start again with the runtime's options: running with its defaults", { error: restartFailed });
    const found = findConfigFile({ flag: s.configFlag, env: s.configEnv });
    if (!found.ok) {
      log.error(found.message);
      return 1;
    }
    return runWitness({
      configFile: found.file,
      configHow: found.how,
      stateDir: s.stateDir ?? DEFAULT_WITNESS_STATE_DIR,
      listen: s.listen,
      http: s.http,
      log,
    });
  },
  fenceVerb: FENCE_VERB,
  fence: runFenceChild,
};

/**
 * vigil.yaml parsed only as YAML (no checks), to pick the runtime's options
 * before the daemon loads; null when it cannot be read or parsed (the
 * daemon's own loading reports why, with the place).
 */
async function readConfigLoosely(file: string): Promise<unknown> {
  try {
    const [{ readFileSync }, { parse }] = await Promise.all([import("node:fs"), import("yaml")]);
    return parse(readFileSync(file, "utf8")) as unknown;
  } catch {
    return null;
  }
}
