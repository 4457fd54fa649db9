import type { DaemonEntries } from "../api/daemon-entries.ts";
import { cmdCheckConfig, cmdDoctor, cmdHelp, cmdKeygen, cmdRun, cmdSchema, cmdStatus, cmdVersion } from "./commands.ts";
import { generalHelp, verbHelp } from "./help.ts";
import { type Io, UsageError } from "./io.ts";
import { cmdModuleCommand } from "./module-command.ts";
import { parseCommand } from "./parse.ts";
import { cmdToken } from "./token-command.ts";
import { cmdInstall, cmdUninstall } from "./install-command.ts";
import { cmdCompletion, cmdMan } from "./doc-command.ts";
import { cmdPasswd } from "./passwd-command.ts";
import { EXIT } from "./verbs.ts";
import { cmdWitness } from "./witness-command.ts";
import { cmdImport } from "./import-command.ts";

/**
 * Parses argv, runs the verb, and returns the exit code. Never throws for user
 * mistakes. `daemons` starts the long-running processes (src/daemon/entry.ts).
 */
export async function dispatch(argv: readonly string[], io: Io, daemons: DaemonEntries): Promise<number> {
  // The daemon's own fencing watchdog process, not a user verb (see src/daemon/fence/).
  if (argv[0] === daemons.fenceVerb) return daemons.fence();
  const cmd = parseCommand(argv);
  if (!cmd.ok) {
    io.err(`vigil: ${cmd.message}`);
    // A likely typo: the suggestion alone, not buried under the whole help.
    if (cmd.suggested) {
      io.err("(`vigil help` lists every verb)");
      return EXIT.usage;
    }
    io.err("");
    io.err(cmd.verb ? verbHelp(cmd.verb) : generalHelp());
    return EXIT.usage;
  }
  const { verb, values, positionals } = cmd;
  try {
    switch (verb.name) {
      case "run": return await cmdRun(values, io, daemons);
      case "witness": return await cmdWitness(values, io, daemons);
      case "check-config": return cmdCheckConfig(values, positionals, io);
      case "status": return await cmdStatus(values, io);
      case "swap": case "stop": case "start": case "restart": case "prim": case "second": case "forceprim":
      case "verify": case "resync": case "ack":
        return await cmdModuleCommand(verb.name, values, positionals, io);
      case "token": return cmdToken(values, io);
      case "passwd": return await cmdPasswd(values, io);
      case "keygen": return cmdKeygen(values, positionals, io);
      case "import": return cmdImport(values, positionals, io);
      case "doctor": return cmdDoctor(values, io);
      case "schema": return cmdSchema(io);
      case "version": return cmdVersion(io);
      case "install": return cmdInstall(values, io);
      case "uninstall": return cmdUninstall(values, io);
      case "completion": return cmdCompletion(positionals, io);
      case "man": return cmdMan(io);
      case "help": return cmdHelp(positionals, io);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`vigil: ${e.message}`);
      io.err("");
      io.err(verbHelp(verb));
      return EXIT.usage;
    }
    throw e;
  }
  io.err(`vigil: verb "${verb.name}" is not implemented`);
  return EXIT.failed;
}
