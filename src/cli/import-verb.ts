import type { VerbSpec } from "./verb-spec.ts";

export const IMPORT_VERB: VerbSpec = {
  name: "import",
  summary: "turn a keepalived.conf or a Heartbeat ha.d folder into a vigil.yaml",
  usage: "vigil import keepalived|heartbeat PATH... [--out FILE] [--force] [--addresses LIST]",
  details: [
    "  vigil import keepalived FILE...  one keepalived.conf per node (each node's own file; one is enough",
    "                                   when its unicast_src_ip and unicast_peer name every node)",
    "  vigil import heartbeat DIR       a folder with ha.cf, haresources and authkeys (/etc/ha.d)",
    "",
    "  Prints the vigil.yaml on stdout; what did not map is a YAML comment at its place, saying why.",
    "  No secret is copied: the config points at vigil.key, made with `vigil keygen`.",
    "",
    "  --out FILE         write the config to FILE instead of stdout (never over an existing file)",
    "  --force            with --out, replace an existing FILE",
    "  --addresses LIST   node addresses the source files do not say, as NODE=IP[+IP],NODE=IP...",
    "                     (one IP per heartbeat link), e.g. lb1=198.51.100.11,lb2=198.51.100.12",
  ].join("\n"),
  options: {
    out: { type: "string", short: "o" },
    force: { type: "boolean" },
    addresses: { type: "string" },
  },
  positionals: [2, 9],
};
