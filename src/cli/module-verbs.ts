import { MODULE_COMMANDS } from "../core/module/types.ts";
import { MIRROR_COMMANDS, type OperatorCommand } from "../api/modules.ts";
import type { VerbSpec } from "./verb-spec.ts";

const stateDirFlag = { "state-dir": { type: "string" } } as const;

/** One verb per module command; the texts say what each asks of the cluster. */
const MODULE_VERB_TEXT: Record<OperatorCommand, { summary: string; details: string }> = {
  verify: {
    summary: "compare both copies of a mirror module by checksum, changing neither, and list differences",
    details: [
      "  Compares this node's copy with the other node's over the replication link: every entry's",
      "  type, mode, owner, size, mtime, link target and xattrs, and every file's blocks by checksum.",
      "  Files the service writes meanwhile may show as different. Exit status 1 when they differ.",
    ].join("\n"),
  },
  ack: {
    summary: "acknowledge a mirror module's split brain on this node (its SPLIT BRAIN line and banner go)",
    details: "  First look at what was kept: the node that gave way copied its folder to STATE_DIR/conflicts/MODULE/TIME/.",
  },
  resync: {
    summary: "resync a mirror module's standby by full checksum comparison, from the node that runs it",
    details: "  Compares every file's blocks (not only those whose size or mtime differ) and sends what differs.\n  Answers once the resync started; `vigil status` shows its progress.",
  },
  swap: {
    summary: "hand a module over: the node running it steps down and another takes it",
    details: "  On the node that runs the module it acts as `second`; on a node standing by, as `prim`.",
  },
  stop: {
    summary: "stop a module on this node and keep it stopped (another node takes over if it can)",
    details: "  The module stays STOP on this node until `vigil start MODULE`.",
  },
  start: {
    summary: "let this node run a module again (after stop, or a failed start)",
    details: "  Clears a failed start and the checker history, so this node may take the module again.",
  },
  restart: {
    summary: "stop and start a module where it runs, staying PRIM",
    details: "  Does not count against the checkers' restart limit.",
  },
  prim: {
    summary: "make this node run a module (the running node hands it over first)",
    details: "  Refused when this node cannot run it (stopped, blocked, a failing wait checker, isolated).",
  },
  second: {
    summary: "make this node stand by: another node takes the module",
    details: "  Refused when no other node can take it.",
  },
  forceprim: {
    summary: "make this node run a module although the usual rules say no (needs --yes)",
    details: [
      "  For when you KNOW the other nodes are down: it overrides isolation without a witness, a",
      "  failed start and failing wait checkers. If another node still runs the module, both serve",
      "  clients and write the same data (split brain). Refused without --yes.",
      "  --yes              confirm that no other node runs the module",
    ].join("\n"),
  },
};

/** What --timeout bounds and what the answer says: a change of roles, a comparison, or a request answered at once. */
const TIMEOUT_TEXT = {
  module: "  --timeout DUR      how long to wait for the cluster to reach the new state (default 30s, 1s..10m)",
  verify: "  --timeout DUR      how long to wait for the comparison (default 30s, 1s..10m); past it the\n" +
    "                     comparison goes on and the daemon's log says its result",
  mirror: "  --timeout DUR      how long to wait for the daemon's answer (default 30s, 1s..10m)",
};
const ANSWER_TEXT = {
  module: [
    "  Answers once the cluster reached the new state or failed, and prints each node's role.",
    "  Exit status: 0 done, 1 refused or not reached in time, 2 usage error, 3 no daemon.",
  ],
  verify: [
    "  Answers with the comparison's result (the differences, at most 50) and each node's role.",
    "  Exit status: 0 identical, 1 different, refused or not finished in time, 2 usage error, 3 no daemon.",
  ],
  mirror: [
    "  Answers at once, and prints each node's role.",
    "  Exit status: 0 done, 1 refused, 2 usage error, 3 no daemon.",
  ],
};

export const MODULE_VERBS: VerbSpec[] = [...MODULE_COMMANDS, ...MIRROR_COMMANDS].map((name) => ({
  name,
  summary: MODULE_VERB_TEXT[name].summary,
  usage: `vigil ${name} MODULE [--timeout 30s] [--json] [--state-dir DIR]${name === "forceprim" ? " --yes" : ""}`,
  details: [
    MODULE_VERB_TEXT[name].details,
    TIMEOUT_TEXT[name === "verify" ? "verify" : (MIRROR_COMMANDS as readonly string[]).includes(name) ? "mirror" : "module"],
    "  --json             print the outcome as JSON",
    "  --state-dir DIR    the daemon's state dir (default /var/lib/vigil); asks it over STATE_DIR/vigil.sock",
    "",
    ...ANSWER_TEXT[name === "verify" ? "verify" : (MIRROR_COMMANDS as readonly string[]).includes(name) ? "mirror" : "module"],
  ].join("\n"),
  options: {
    ...stateDirFlag,
    timeout: { type: "string" },
    json: { type: "boolean" },
    ...(name === "forceprim" ? { yes: { type: "boolean" } } : {}),
  },
  positionals: [1, 1],
}));
