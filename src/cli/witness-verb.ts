import type { VerbSpec } from "./verb-spec.ts";

export const WITNESS_VERB: VerbSpec = {
  name: "witness",
  summary: "run the arbiter that grants each module's PRIM lease to one node (third machine)",
  usage: "vigil witness [--config FILE] [--listen ADDR:PORT] [--state-dir DIR] [--http ADDR:PORT] [--log-format text|json]",
  details: [
    "  Runs on a machine that is not a node, with the same vigil.yaml and key as the nodes.",
    "  Nodes ask it (cluster.witness.arbiter) for a module's lease when they cannot hear every",
    "  peer; it grants each lease to at most one node at a time.",
    "",
    "  --config FILE      the config; default: $VIGIL_CONFIG, /etc/vigil/vigil.yaml, then removable media",
    "  --listen ADDR:PORT UDP address to answer on; default witness.listen, else 0.0.0.0 on the",
    "                     port of cluster.witness.arbiter (7693 without one)",
    "  --state-dir DIR    lock, control socket witness.sock and clean-stop mark (default /var/lib/vigil-witness)",
    "  --http ADDR:PORT   also serve /api/status, /healthz and /metrics over TCP",
    "  --log-format FMT   text (default) or json",
    "",
    "  After a start it grants nothing for lease + grace (a lease granted before may still run),",
    "  unless its last stop was clean with no lease out. SIGTERM/SIGINT stop it.",
  ].join("\n"),
  options: {
    config: { type: "string", short: "c" },
    listen: { type: "string" },
    "state-dir": { type: "string" },
    http: { type: "string" },
    "log-format": { type: "string" },
  },
  positionals: [0, 0],
};
