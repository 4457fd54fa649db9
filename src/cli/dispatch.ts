import type { DaemonEntries } from "../api/daemon-entries.ts";
import { generalHelp, verbHelp } from "./help.ts";
import { type Io, UsageError } from "./io.ts";
import { parseCommand } from "./parse.ts";
import { EXIT } from "./verbs.ts";
import { cmdHelp, cmdVersion } from "./version-command.ts";

// Each verb's code is imported when that verb runs: `vigil version`, `vigil help` and the
// daemons then do not load (or keep in memory) the importers, the installer, the config
// checks of check-config or the console client.
const commands = () => import("./commands.ts");

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
      case "run": return await (await commands()).cmdRun(values, io, daemons);
      case "witness": return await (await import("./witness-command.ts")).cmdWitness(values, io, daemons);
      case "check-config": return (await commands()).cmdCheckConfig(values, positionals, io);
      case "status": return await (await import("./status-command.ts")).cmdStatus(values, io);
      case "swap": case "stop": case "start": case "restart": case "prim": case "second": case "forceprim":
      case "verify": case "resync": case "ack":
        return await (await import("./module-command.ts")).cmdModuleCommand(verb.name, values, positionals, io);
      case "token": return (await import("./token-command.ts")).cmdToken(values, io);
      case "passwd": return await (await import("./passwd-command.ts")).cmdPasswd(values, io);
      case "keygen": return (await commands()).cmdKeygen(values, positionals, io);
      case "import": return (await import("./import-command.ts")).cmdImport(values, positionals, io);
      case "doctor": return (await commands()).cmdDoctor(values, io);
      case "schema": return (await commands()).cmdSchema(io);
      case "version": return cmdVersion(io);
      case "install": return (await import("./install-command.ts")).cmdInstall(values, io);
      case "uninstall": return (await import("./install-command.ts")).cmdUninstall(values, io);
      case "completion": return (await import("./doc-command.ts")).cmdCompletion(positionals, io);
      case "man": return (await import("./doc-command.ts")).cmdMan(io);
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
