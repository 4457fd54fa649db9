import type { VerbSpec } from "./verb-spec.ts";
import { WITNESS_VERB } from "./witness-verb.ts";
import { MODULE_VERBS } from "./module-verbs.ts";
import { PASSWD_VERB } from "./passwd-verb.ts";
import { INSTALL_VERBS } from "./install-verbs.ts";
import { DOC_VERBS } from "./doc-verbs.ts";
import { IMPORT_VERB } from "./import-verb.ts";

export type { VerbSpec };

const configFlag = {
  config: { type: "string", short: "c" },
} as const;
const stateDirFlag = { "state-dir": { type: "string" } } as const;

/**
 * Every verb the binary understands, with its usage text and flags. The help
 * output, the argument parser and the error messages all read from this one
 * table, so they cannot drift apart.
 */
export const VERBS: readonly VerbSpec[] = [
  {
    name: "run",
    summary: "run the daemon on this node",
    usage: "vigil run [--config FILE] [--node NAME] [--state-dir DIR] [--log-format text|json] [--listen ADDR:PORT] [--accept-new-key]",
    details: [
      "  --config FILE      the config; default: $VIGIL_CONFIG, /etc/vigil/vigil.yaml, then removable media",
      "  --node NAME        which configured node this is; default: the node whose address is local",
      "  --state-dir DIR    where state, the lock and the control socket live (default /var/lib/vigil)",
      "  --log-format FMT   text (default) or json, one line per event on stderr",
      "  --listen ADDR:PORT serve the console here instead of web.listen from the config",
      "  --accept-new-key   start with a config from removable media whose cluster key differs",
      "                     from the one this node last ran with (refused otherwise)",
      "",
      "  Signals: SIGTERM/SIGINT stop cleanly; SIGHUP reloads the config (a bad config is",
      "  reported and the running one kept).",
    ].join("\n"),
    options: {
      ...configFlag,
      ...stateDirFlag,
      node: { type: "string" },
      "log-format": { type: "string" },
      listen: { type: "string" },
      "accept-new-key": { type: "boolean" },
    },
    positionals: [0, 0],
  },
  WITNESS_VERB,
  {
    name: "check-config",
    summary: "validate a config and say which file was used",
    usage: "vigil check-config [FILE] [--print] [--node NAME]",
    details: [
      "  FILE           the config to check; default: the same search as `vigil run`",
      "  --config FILE  the same as FILE",
      "  --print        print the effective config (defaults applied, paths resolved)",
      "  --node NAME    also check that NAME is a configured node",
      "",
      "  On a node of the cluster (found by this machine's addresses) it also checks the host:",
      "  scripts exist and are executable, interfaces exist, mirror folders exist, VIPs fit a subnet.",
      "  Exit status: 0 valid, 1 invalid or unfit for this host (every problem is listed with",
      "  file:line:col).",
    ].join("\n"),
    options: { ...configFlag, print: { type: "boolean" }, node: { type: "string" } },
    positionals: [0, 1],
  },
  {
    name: "status",
    summary: "show the state of the local daemon",
    usage: "vigil status [--json] [--state-dir DIR]",
    details: [
      "  Asks the daemon on this machine through its control socket (STATE_DIR/vigil.sock).",
      "  --json             the same as JSON; when no daemon answers, {\"ok\": false, \"reason\":",
      "                     \"daemon-unreachable\", \"error\": \"...\"}",
      "  --state-dir DIR    the daemon's state dir (default /var/lib/vigil)",
      "  Exit status: 0 answered, 1 the daemon answered with an error, 3 no daemon answered.",
    ].join("\n"),
    options: { ...stateDirFlag, json: { type: "boolean" } },
    positionals: [0, 0],
  },
  ...MODULE_VERBS,
  PASSWD_VERB,
  {
    name: "token",
    summary: "print the API token for module commands over the network (taken only with console.api_token: true)",
    usage: "vigil token [--config FILE]",
    details: [
      "  The token is derived from the cluster key (cluster.key_file), so it is the same on every",
      "  node and changes when the key does. The console takes it, as an operator, only with",
      "  console.api_token: true; otherwise scripts log in with HTTP Basic as a console user.",
      "  API clients send it as `Authorization: Bearer TOKEN`. Keep it as secret as the key.",
      "  --config FILE      the config whose key_file it reads; default: the same search as `vigil run`",
    ].join("\n"),
    options: { ...configFlag },
    positionals: [0, 0],
  },
  {
    name: "keygen",
    summary: "write a new random cluster key file (mode 0600)",
    usage: "vigil keygen FILE [--force]",
    details: [
      "  Copy the same key file to every node (or keep it beside vigil.yaml on the USB stick).",
      "  --force            replace an existing FILE (a node with the old key no longer joins the others)",
    ].join("\n"),
    options: { force: { type: "boolean" } },
    positionals: [1, 1],
  },
  IMPORT_VERB,
  {
    name: "doctor",
    summary: "check this host for what vigil needs, and the config",
    usage: "vigil doctor [--config FILE]",
    details: [
      "  Lists each host tool and capability with the features that need it. Exit 1 if anything is missing;",
      "  a note (such as the kernel's preemption model) is advice and does not fail.",
      "  --config FILE      the config to check on this host; default: the same search as `vigil run`",
    ].join("\n"),
    options: { ...configFlag },
    positionals: [0, 0],
  },
  {
    name: "schema",
    summary: "print the config's JSON Schema (for editors)",
    usage: "vigil schema",
    options: {},
    positionals: [0, 0],
  },
  ...INSTALL_VERBS,
  ...DOC_VERBS,
  {
    name: "version",
    summary: "print the version",
    usage: "vigil version",
    options: {},
    positionals: [0, 0],
  },
  {
    name: "help",
    summary: "show help for all verbs or one verb",
    usage: "vigil help [VERB]",
    options: {},
    positionals: [0, 1],
  },
];

export function findVerb(name: string): VerbSpec | undefined {
  return VERBS.find((v) => v.name === name);
}

/** Exit codes, documented in `vigil help`. */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  daemonUnreachable: 3,
} as const;
