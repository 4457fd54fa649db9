import type { VerbSpec } from "./verb-spec.ts";

const placeFlags = {
  witness: { type: "boolean" },
  prefix: { type: "string" },
  "state-dir": { type: "string" },
  root: { type: "string" },
} as const;

const placeDetails = [
  "  --witness          the arbiter of a third machine (vigil witness) instead of a node:",
  "                     vigil-witness.service or /etc/init.d/vigil-witness, state in /var/lib/vigil-witness",
  "  --prefix DIR       the folder of the binary (default /usr/local/sbin)",
  "  --state-dir DIR    the daemon's state dir (default /var/lib/vigil; /var/lib/vigil-witness with --witness)",
  "  --root DIR         work on the system under DIR (an image being prepared) instead of /",
];

export const INSTALL_VERBS: VerbSpec[] = [
  {
    name: "install",
    summary: "install this binary as a service that starts at boot (root)",
    usage: "vigil install [--witness] [--prefix DIR] [--state-dir DIR] [--init systemd|sysv] [--root DIR]",
    details: [
      "  Copies this binary to PREFIX/vigil, writes and enables a systemd unit (vigil.service) or,",
      "  without systemd, a SysV init script (/etc/init.d/vigil), creates the state dir (mode 0700),",
      "  and writes /etc/vigil/vigil.yaml.example when there is no /etc/vigil/vigil.yaml. An existing",
      "  config is never touched. Running it again changes only what differs. It does not start vigil.",
      "",
      ...placeDetails,
      "  --init SYSTEM      systemd or sysv; default: systemd if it runs this system, else sysv",
    ].join("\n"),
    options: { ...placeFlags, init: { type: "string" } },
    positionals: [0, 0],
  },
  {
    name: "uninstall",
    summary: "stop and remove what vigil install made (state and config only with --purge)",
    usage: "vigil uninstall [--purge] [--witness] [--prefix DIR] [--state-dir DIR] [--root DIR]",
    details: [
      "  Stops and disables the service, removes the unit or init script, the binary and the",
      "  example config. Files vigil install did not write are kept. Give it the same --prefix",
      "  and --state-dir as install.",
      "",
      "  --purge            also remove the state dir and /etc/vigil (config and key)",
      ...placeDetails,
    ].join("\n"),
    options: { ...placeFlags, purge: { type: "boolean" } },
    positionals: [0, 0],
  },
];
