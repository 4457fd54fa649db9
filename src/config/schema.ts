/**
 * The JSON Schema of vigil.yaml: the single source of truth for which keys
 * exist, their types, formats and defaults. ajv validates against it and
 * `vigil schema` prints it for editors (yaml-language-server and the like).
 *
 * Two non-standard keywords, which editors ignore:
 * - `format` names are vigil's own (see formats.ts), checked by ajv;
 * - `expected` is the "expected ..." text of error messages where the one
 *   derived from type, format and range would read badly.
 * `discriminator` (OpenAPI's) lets ajv report a module's errors against the
 * branch its `type` picks instead of against every branch.
 */
import { heartbeatPresets } from "../core/membership-config.ts";
import { DEFAULTS } from "./defaults.ts";
import { formatDuration } from "./duration.ts";
import type { FormatName } from "./formats.ts";

type Schema = Record<string, unknown>;

const text = (format: FormatName, description: string, extra: Schema = {}): Schema => ({
  type: "string",
  format,
  description,
  ...extra,
});

const duration = (description: string, defaultMs?: number): Schema =>
  text("duration", description, defaultMs === undefined ? {} : { default: formatDuration(defaultMs) });

const integer = (minimum: number, maximum: number, description: string, extra: Schema = {}): Schema => ({
  type: "integer",
  minimum,
  maximum,
  description,
  ...extra,
});

const list = (items: Schema, expected: string, description: string, extra: Schema = {}): Schema => ({
  type: "array",
  items,
  expected,
  description,
  ...extra,
});

const mapping = (title: string, properties: Record<string, Schema>, required: string[], extra: Schema = {}): Schema => ({
  type: "object",
  title,
  additionalProperties: false,
  ...(required.length > 0 ? { required } : {}),
  properties,
  ...extra,
});

const oneOf = (values: readonly string[], description: string, extra: Schema = {}): Schema => ({
  type: "string",
  enum: [...values],
  description,
  ...extra,
});

const ipv4 = text("ipv4", "An IPv4 address.");
const cidr = text("ipv4-cidr", "An IPv4 address with its prefix length, like 198.51.100.100/24.");
const cidrList = (description: string): Schema =>
  list(cidr, "a list of addresses with prefix length, like [198.51.100.100/24]", description, { minItems: 1 });

const node = mapping("node", {
  name: text("name", "The node's name, as shown in status and used by --node."),
  addresses: list(
    ipv4,
    "a list of at least one IPv4 address, like [198.51.100.11, 203.0.113.11]",
    "One address per heartbeat link, in the same link order on every node.",
    { minItems: 1 },
  ),
}, ["name", "addresses"]);

const heartbeat = mapping("heartbeat", {
  preset: oneOf(
    Object.keys(heartbeatPresets),
    `Timer set, as interval/deadtime: ${Object.entries(heartbeatPresets)
      .map(([name, t]) => `${name} ${formatDuration(t.intervalMs)}/${formatDuration(t.deadtimeMs)}`)
      .join(", ")}. Keys given here override it.`,
  ),
  interval: duration(`Time between two frames on each link. Default ${formatDuration(DEFAULTS.heartbeat.interval)}.`),
  warntime: duration("Silence after which a peer is reported late. Default: half the deadtime."),
  deadtime: duration("Silence after which a peer is dead (Heartbeat's deadtime). Default: 5 x interval; at least 2 x interval."),
  initdead: duration("Grace at start before an unheard peer is dead. Default: 2 x deadtime, at least 5s."),
  port: integer(1, 65535, "UDP port of the heartbeat links.", { default: DEFAULTS.heartbeat.port }),
  links: list(
    mapping("heartbeat link", {
      mode: oneOf(["unicast", "multicast", "broadcast"], "unicast (default) sends to each peer's address; multicast to `group`; broadcast to `broadcast`."),
      group: text("ipv4", "Multicast group for mode multicast, e.g. 224.0.0.94 (frames go out with TTL 1)."),
      broadcast: text("ipv4", "The link's broadcast address for mode broadcast, e.g. 198.51.100.255."),
    }, ["mode"]),
    "a list of link settings, like [{ mode: unicast }, { mode: multicast, group: 224.0.0.94 }]",
    "Per heartbeat link, in node address order: how frames are sent. Links not listed are unicast.",
  ),
}, []);

const cluster = mapping("cluster", {
  name: text("name", "The cluster's name; frames of another cluster are ignored."),
  key_file: text("path", "Shared secret that signs heartbeats (create with `vigil keygen`). Relative to this file."),
  nodes: list(node, "a list of at least one node, like [{ name: vms1, addresses: [198.51.100.11] }]", "Every node of the cluster.", {
    minItems: 1,
  }),
  heartbeat,
  witness: mapping("witness", {
    ping: list(ipv4, "a list of IPv4 addresses, like [198.51.100.1]", "Addresses (a router, a switch) that a node must reach to claim resources when its peer is silent.", {
      default: [],
    }),
  }, []),
}, ["name", "nodes"]);

const weight = integer(-254, 254, "Priority change while this track fails; 0 means the instance goes to FAULT.", {
  default: DEFAULTS.vrrp.track.weight,
});

const track = mapping("track entry", {
  process: { type: "string", minLength: 1, expected: "a process name like node_exporter", description: "A process name that must be running (keepalived's track_process)." },
  script: text("path", "A script that must exit 0 (keepalived's track_script). Relative to this file."),
  interface: text("interface", "An interface that must be up (keepalived's track_interface)."),
  file: text("path", "A file holding a number added to the priority (keepalived's track_file)."),
  weight,
  interval: duration("Scripts only: time between runs.", DEFAULTS.vrrp.track.interval),
  timeout: duration("Scripts only: a run taking longer fails.", DEFAULTS.vrrp.track.timeout),
  fall: integer(1, 255, "Scripts only: failures in a row before the track fails.", { default: DEFAULTS.vrrp.track.fall }),
  rise: integer(1, 255, "Scripts only: successes in a row before it recovers.", { default: DEFAULTS.vrrp.track.rise }),
}, [], { description: "Exactly one of process, script, interface or file." });

const priority = integer(1, 254, "This node's priority; the highest live one is MASTER.");

const vrrpInstance = mapping("VRRP instance", {
  name: text("name", "The instance's name (keepalived's vrrp_instance)."),
  interface: text("interface", "The interface the adverts go out on and the VIPs are added to."),
  vrid: integer(1, 255, "Virtual router id (keepalived's virtual_router_id), unique on the interface."),
  version: { type: "integer", enum: [2, 3], description: "VRRP version.", default: DEFAULTS.vrrp.version },
  advert_int: duration("Advertisement interval: whole seconds for version 2, steps of 10ms for version 3.", DEFAULTS.vrrp.advert_int),
  priority: {
    type: ["integer", "object"],
    minimum: 1,
    maximum: 254,
    additionalProperties: priority,
    expected: "a priority from 1 to 254, or a mapping of node name to priority like { vms1: 150, vms2: 100 }",
    description: "One priority for every node, or a priority per node name.",
    default: DEFAULTS.vrrp.priority,
  },
  vips: cidrList("Virtual addresses (keepalived's virtual_ipaddress)."),
  track: list(track, "a list of track entries, like [{ process: node_exporter, weight: -60 }]", "Conditions that lower the priority or force FAULT.", {
    default: [],
  }),
  preempt: { type: "boolean", description: "A higher priority node takes over from a live MASTER (false is keepalived's nopreempt).", default: DEFAULTS.vrrp.preempt },
  nopreempt: { type: "boolean", description: "keepalived's spelling of preempt: false." },
  preempt_delay: duration("Wait this long after start before preempting.", DEFAULTS.vrrp.preempt_delay),
  unicast_peer: list(ipv4, "a list of IPv4 addresses, like [198.51.100.12]", "Send adverts to these peers by unicast instead of multicast.", {
    default: [],
  }),
  authentication: mapping("authentication", {
    auth_type: oneOf(["PASS"], "Only PASS (a clear-text password, as VRRPv2 defines it)."),
    auth_pass: {
      type: "string",
      minLength: 1,
      maxLength: 8,
      expected: "a password of 1 to 8 characters (VRRPv2 carries 8 bytes)",
      description: "The password, at most 8 characters.",
    },
  }, ["auth_type", "auth_pass"], { description: "VRRPv2 only." }),
  unicast_src_ip: {
    type: ["string", "object"],
    format: "ipv4",
    additionalProperties: ipv4,
    expected: "an IPv4 address, or a mapping of node name to address like { gw1: 198.51.100.11, gw2: 198.51.100.12 }",
    description: "Source of the adverts (keepalived's unicast_src_ip), per node; default: the node's address on the interface.",
  },
  down_timer_adverts: integer(1, 100, "Adverts missed before the MASTER counts as down.", { default: DEFAULTS.vrrp.down_timer_adverts }),
  garp_master_repeat: integer(1, 100, "Gratuitous ARPs sent for each VIP on becoming MASTER.", { default: DEFAULTS.vrrp.garp_master_repeat }),
  garp_interval: duration("Pause between those gratuitous ARPs.", DEFAULTS.vrrp.garp_interval),
  garp_master_delay: duration("A second burst of gratuitous ARPs this long after becoming MASTER; 0s for none.", DEFAULTS.vrrp.garp_master_delay),
  sync_group: text("name", "Instances with the same sync group always change state together (keepalived's vrrp_sync_group)."),
  notify: text("path", "Script run on every state change with INSTANCE, the name, MASTER|BACKUP|FAULT|STOP and the priority. Relative to this file."),
  notify_master: text("path", "Script run on becoming MASTER. Relative to this file."),
  notify_backup: text("path", "Script run on becoming BACKUP. Relative to this file."),
  notify_fault: text("path", "Script run on entering FAULT. Relative to this file."),
  notify_stop: text("path", "Script run when the instance stops. Relative to this file."),
}, ["name", "interface", "vrid", "vips"]);

const checker = mapping("checker", {
  tcp: text("endpoint", "Healthy while a TCP connection to address:port succeeds."),
  http: text("http-url", "Healthy while a GET of this URL answers 2xx or 3xx."),
  process: { type: "string", minLength: 1, expected: "a process name like httpd", description: "Healthy while a process of this name runs." },
  script: text("path", "Healthy while this script exits 0. Relative to this file."),
  interval: duration("Time between checks.", DEFAULTS.checker.interval),
  timeout: duration("A check taking longer fails.", DEFAULTS.checker.timeout),
  fall: integer(1, 255, "Failures in a row before acting.", { default: DEFAULTS.checker.fall }),
  rise: integer(1, 255, "Successes in a row before healthy again.", { default: DEFAULTS.checker.rise }),
  on_fail: oneOf(["restart", "failover", "stop", "ignore"], "What a failure does.", { default: DEFAULTS.checker.on_fail }),
  then: oneOf(["failover", "stop"], "With on_fail: restart, what to do when restarting did not help.", { default: DEFAULTS.checker.then }),
  restarts: integer(1, 100, "With on_fail: restart, how many restarts to try first.", { default: DEFAULTS.checker.restarts }),
}, [], { description: "Exactly one of tcp, http, process or script." });

const moduleCommon: Record<string, Schema> = {
  name: text("name", "The module's name, unique in the cluster."),
  vip: text("ipv4-cidr", "The module's virtual address, like 198.51.100.100/24 (or use vips)."),
  vips: list(cidr, "a list of addresses with prefix length, like [198.51.100.100/24]", "The module's virtual addresses (or use vip); may be empty."),
  interface: text("interface", "Interface for the VIPs; default: the one whose subnet holds them."),
  start: text("path", "Script run to become primary. Relative to this file."),
  stop: text("path", "Script run to stop being primary. Relative to this file."),
  checkers: list(checker, "a list of checkers, like [{ tcp: 127.0.0.1:8080 }]", "Health checks of the module's service.", {
    default: [],
  }),
};

const failback = oneOf(["auto", "manual"], "auto: move back to the preferred node when it returns (Heartbeat's auto_failback on).", {
  default: DEFAULTS.module.failback,
});
const prefer = text("name", "The node that runs the module when it is up (the owner in Heartbeat's haresources).");

const moduleBranch = (type: string, title: string, own: Record<string, Schema>, required: string[]): Schema =>
  mapping(title, { type: { const: type, description: "The module type." }, ...moduleCommon, ...own }, ["type", "name", ...required]);

const module: Schema = {
  type: "object",
  title: "module",
  description: "A resource group: failover (one node runs it), mirror (plus synchronous file replication) or farm (all nodes share the load).",
  discriminator: { propertyName: "type" },
  required: ["type"],
  oneOf: [
    moduleBranch("failover", "failover module", { failback, prefer }, []),
    moduleBranch("mirror", "mirror module", {
      failback,
      prefer,
      replicate: list(
        text("absolute-path", "A directory mirrored to the other node."),
        "a list of at least one absolute directory, like [/var/lib/vms]",
        "Directories mirrored synchronously to the other node.",
        { minItems: 1 },
      ),
    }, ["replicate"]),
    moduleBranch("farm", "farm module", {
      ports: list(integer(1, 65535, "A port."), "a list of at least one port, like [80, 443]", "The ports whose clients are shared out.", {
        minItems: 1,
        uniqueItems: true,
      }),
      split: oneOf(["client_ip", "client_ip_port"], "What decides which node serves a client.", { default: DEFAULTS.module.split }),
    }, ["ports"]),
  ],
};

export const MODULE_TYPES = ["failover", "mirror", "farm"] as const;

export const configSchema: object = {
  $schema: "http://json-schema.org/draft-07/schema#",
  title: "vigil configuration (vigil.yaml)",
  type: "object",
  additionalProperties: false,
  required: ["cluster"],
  properties: {
    cluster,
    vrrp: list(vrrpInstance, "a list of VRRP instances", "keepalived-style VRRP instances.", { default: [] }),
    modules: list(module, "a list of modules", "Resource groups: failover, mirror and farm modules.", { default: [] }),
    web: mapping("web", {
      listen: text("listen", "Where the web console listens.", { default: DEFAULTS.web.listen }),
    }, []),
  },
};
