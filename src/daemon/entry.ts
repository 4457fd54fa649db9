/**
 * The three long-running processes of the binary, as src/main.ts hands them
 * to the CLI: the node daemon (`vigil run`), the witness (`vigil witness`)
 * and the fencing watchdog child (`vigil __fence`, started by the daemon
 * itself). The CLI checks the flags; from here on the daemon logs.
 */
import { findConfigFile } from "../config/search.ts";
import type { DaemonEntries } from "../api/daemon-entries.ts";
import { DEFAULT_STATE_DIR, DEFAULT_WITNESS_STATE_DIR } from "../api/state-dirs.ts";
import { runDaemon } from "./daemon.ts";
import { FENCE_VERB, runFenceChild } from "./fence/child.ts";
import { Logger } from "./log.ts";
import { runWitness } from "./witness/daemon.ts";

export const daemonEntries: DaemonEntries = {
  async node(s) {
    const log = new Logger(s.logFormat);
    const found = findConfigFile({ flag: s.configFlag, env: s.configEnv });
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
    const log = new Logger(s.logFormat);
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
