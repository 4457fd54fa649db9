/**
 * The JSON Schema of vigil.yaml: the single source of truth for which keys
 * exist, their types, formats and defaults. ajv validates against it and
 * `vigil schema` prints it for editors (yaml-language-server and the like).
 *
 * Two non-standard keywords, which editors ignore:
 * - `format` names are vigil's own (see formats.ts), checked by ajv;
 * - `expected` is the "expected ..." text of error messages where the one
 *   derived from type, format and range would read badly;
 * - `kinds` lists the keys of which an entry has exactly one (a checker's
 *   tcp, http, ...), so an unknown one is reported as an unknown kind.
 * `discriminator` (OpenAPI's) lets ajv report a module's errors against the
 * branch its `type` picks instead of against every branch.
 */
import { DEFAULTS, HEARTBEAT_PRESETS } from "./defaults.ts";
import { formatDuration } from "./duration.ts";
import type { FormatName } from "./formats.ts";
import { CHECKER_KINDS } from "./module-checks.ts";
import { consoleSchema } from "./console-schema.ts";

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
    Object.keys(HEARTBEAT_PRESETS),
    `Timer set, as interval/deadtime: ${Object.entries(HEARTBEAT_PRESETS)
      .map(([name, t]) => `${name} ${formatDuration(t.interval)}/${formatDuration(t.deadtime)}`)
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
    arbiter: text("endpoint", "The arbiter (`vigil witness` on a third machine) as address:port, like 192.0.2.10:7693; it grants each module's PRIM lease to one node at a time."),
    lease: duration("How long a PRIM lease from the arbiter lasts; the holder renews it every third of that.", DEFAULTS.witness.lease),
    grace: duration("After a lease ran out, the arbiter grants it to no other node for this long.", DEFAULTS.witness.grace),
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
  unicast_peer: list(ipv4, "one list of IPv4 addresses for every node, like [198.51.100.11, 198.51.100.12] (each node leaves out its own)", "Send adverts to these peers by unicast instead of multicast; the same list on every node, each leaves out its own address.", {
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
  garp_master_refresh: duration("While MASTER, a burst of gratuitous ARPs this often; 0s for never.", DEFAULTS.vrrp.garp_master_refresh),
  accept_mode: {
    type: "boolean",
    description: "The MASTER accepts packets addressed to the VIPs (RFC 5798 Accept_Mode). false drops them with nftables, ARP excepted (keepalived's no_accept).",
    default: DEFAULTS.vrrp.accept_mode,
  },
  heartbeat_takeover: {
    type: "boolean",
    description:
      "A BACKUP takes over as soon as the heartbeat declares the MASTER's node dead and that MASTER misses its next advert, instead of waiting out the down timer (3.6 s at advert_int 1s). Only for a MASTER that is a cluster node sending from one of its cluster addresses. A MASTER frozen longer than the heartbeat's deadtime then loses the VIPs until it resumes; false waits out the down timer, as keepalived does.",
    default: DEFAULTS.vrrp.heartbeat_takeover,
  },
  heartbeat_hold: {
    type: "boolean",
    description:
      "When the down timer runs out but the heartbeat still hears the MASTER's node say it is MASTER of this instance, the adverts were lost on the way: a BACKUP waits up to one more down timer before taking over, and takes over at once if that node says it left MASTER or goes silent. Only for a MASTER that is a vigil node of this release. The price: a MASTER cut off from the VRRP network while its heartbeat runs on another link, with its carrier up, is taken over from one down timer later; false takes over when the down timer runs out, as keepalived does.",
    default: DEFAULTS.vrrp.heartbeat_hold,
  },
  sync_group: text("name", "Instances with the same sync group always change state together (keepalived's vrrp_sync_group)."),
  notify: text("path", "Script run on every state change with INSTANCE, the name, MASTER|BACKUP|FAULT|STOP and the priority. Relative to this file."),
  notify_master: text("path", "Script run on becoming MASTER. Relative to this file."),
  notify_backup: text("path", "Script run on becoming BACKUP. Relative to this file."),
  notify_fault: text("path", "Script run on entering FAULT. Relative to this file."),
  notify_stop: text("path", "Script run when the instance stops. Relative to this file."),
}, ["name", "interface", "vrid", "vips"]);

const boolean = (description: string, extra: Schema = {}): Schema => ({ type: "boolean", description, ...extra });

const httpStatus = integer(100, 599, "An HTTP status code.");

const checker = mapping("checker", {
  tcp: text("endpoint", "Healthy while a TCP connection to address:port succeeds."),
  http: text("http-url", "Healthy while a GET of this URL answers `status` (default any 2xx or 3xx; redirects are not followed)."),
  status: {
    type: ["integer", "array"],
    minimum: 100,
    maximum: 599,
    items: httpStatus,
    minItems: 1,
    expected: "an HTTP status like 200, or a list like [200, 204]",
    description: "http only: the status, or list of statuses, that counts as healthy.",
  },
  body: { type: "string", minLength: 1, expected: "a non-empty text like ok", description: "http only: the body (its first 64 KiB) must contain this text." },
  tls_verify: boolean("http only: verify the https certificate; false for a self-signed appliance certificate.", {
    default: DEFAULTS.checker.tls_verify,
  }),
  process: { type: "string", minLength: 1, expected: "a process name like httpd", description: "Healthy while a process of this name runs; with pidfile, the name the PID must have." },
  min: integer(1, 1000, "process only: how many processes of that name must run at least.", { default: 1 }),
  pidfile: text("path", "Healthy while the PID this file holds runs (Heartbeat's and SafeKit's pidfile check). Relative to this file."),
  ping: text("ipv4", "Healthy while this address answers: ICMP echo through `ping`, or a TCP or UDP probe (see protocol). A wait checker by default."),
  protocol: oneOf(["icmp", "tcp", "udp"], "ping only: icmp (default), or tcp / udp to `port` for networks that drop ICMP; any answer, even a refusal, counts.", {
    default: DEFAULTS.checker.protocol,
  }),
  port: integer(1, 65535, "ping with protocol tcp or udp: the port probed."),
  interface: text("interface", "Healthy while this interface is up with carrier. A wait checker by default."),
  file: text("path", "Healthy while this file exists (see exists and contains). Relative to this file."),
  exists: boolean("file only: false makes it healthy while the file does NOT exist (a maintenance flag).", { default: true }),
  contains: { type: "string", minLength: 1, expected: "a non-empty text like ready", description: "file only: the file (its first 1 MiB) must contain this text." },
  custom: text("path", "Healthy while this command exits 0 within the timeout; it runs in its own process group, killed on timeout. Relative to this file."),
  args: list({ type: "string", description: "An argument." }, "a list of arguments, like [--quiet]", "custom only: arguments of the command."),
  script: text("path", "Older spelling of custom."),
  interval: duration("Time between checks.", DEFAULTS.checker.interval),
  timeout: duration("A check taking longer fails.", DEFAULTS.checker.timeout),
  fall: integer(1, 255, "Failures in a row before acting.", { default: DEFAULTS.checker.fall }),
  rise: integer(1, 255, "Successes in a row before healthy again.", { default: DEFAULTS.checker.rise }),
  on_fail: oneOf(
    ["restart", "failover", "stop", "ignore", "wait"],
    "What a failure does: restart the module here, failover to another node, stop it, ignore (report only), or wait (this node cannot serve: " +
      "stop here and never take the module while it fails). Default: wait for ping and interface, restart for the others.",
  ),
  then: oneOf(["failover", "stop"], "With on_fail: restart, what to do when restarting did not help.", { default: DEFAULTS.checker.then }),
  restarts: integer(1, 100, "With on_fail: restart, how many restarts within restart_window to try first.", { default: DEFAULTS.checker.restarts }),
  restart_window: duration("With on_fail: restart, the window the restarts are counted in.", DEFAULTS.checker.restart_window),
}, [], { description: `Exactly one of ${CHECKER_KINDS.join(", ")} (script is the older spelling of custom).`, kinds: [...CHECKER_KINDS] });

const startTimeout = duration("Longest run of a start script or service start; then its process group is killed and the start fails.", DEFAULTS.module.start_timeout);
const stopTimeout = duration("Longest run of a stop script or service stop; then its process group is killed and the stop fails.", DEFAULTS.module.stop_timeout);

const resource = mapping("resource", {
  vip: text("ipv4-cidr", "A virtual address, like 198.51.100.100/24: added, then announced by gratuitous ARP; removed on stop."),
  interface: text("interface", "vip only: the interface; default the module's, else the one whose subnet holds it."),
  service: text("systemd-unit", "A systemd unit (httpd, postgresql.service): `systemctl start` / `systemctl stop`."),
  start: text("path", "Script run to start this resource (SafeKit's start_prim). Relative to this file."),
  stop: text("path", "Script run to stop it (SafeKit's stop_prim). Relative to this file."),
  start_timeout: duration("service and scripts: longest start; default the module's start_timeout."),
  stop_timeout: duration("service and scripts: longest stop; default the module's stop_timeout."),
}, [], {
  description: "Exactly one of vip, service, or start/stop scripts. Started in list order, stopped in reverse (Heartbeat's haresources).",
  kinds: ["vip", "service", "start", "stop"],
});

const moduleCommon: Record<string, Schema> = {
  name: text("name", "The module's name, unique in the cluster."),
  vip: text("ipv4-cidr", "The module's virtual address, like 198.51.100.100/24 (or use vips)."),
  vips: list(cidr, "a list of addresses with prefix length, like [198.51.100.100/24]", "The module's virtual addresses (or use vip); may be empty."),
  interface: text("interface", "Interface for the VIPs; default: the one whose subnet holds them."),
  start: text("path", "Script run to become primary, after the VIPs are up. Relative to this file."),
  stop: text("path", "Script run to stop being primary, before the VIPs go. Relative to this file."),
  start_timeout: startTimeout,
  stop_timeout: stopTimeout,
  checkers: list(checker, "a list of checkers, like [{ tcp: 127.0.0.1:8080 }]", "Health checks of the module's service.", {
    default: [],
  }),
  notify: text("path", "Script run on every state change of the module with MODULE FROM TO REASON. Relative to this file."),
  webhook: text("http-url", "URL that gets a JSON POST on every state change of the module."),
};

const failback = oneOf(["auto", "manual"], "auto: move back to the preferred node when it returns (Heartbeat's auto_failback on).", {
  default: DEFAULTS.module.failback,
});
const prefer = text("name", "The node that runs the module when it is up (the owner in Heartbeat's haresources).");
const failbackDelay = duration("With failback: auto, how long the preferred node must be back before the module moves to it.", DEFAULTS.module.failback_delay);
const resources = list(
  resource,
  "a list of resources, like [{ vip: 198.51.100.80/24 }, { service: httpd }]",
  "The module's resources in start order (stopped in reverse), instead of vip/vips/start/stop.",
  { minItems: 1 },
);

const moduleBranch = (type: string, title: string, own: Record<string, Schema>, required: string[]): Schema =>
  mapping(title, { type: { const: type, description: "The module type." }, ...moduleCommon, ...own }, ["type", "name", ...required]);

const module: Schema = {
  type: "object",
  title: "module",
  description: "A resource group: failover (one node runs it), mirror (plus synchronous file replication) or farm (all nodes share the load).",
  discriminator: { propertyName: "type" },
  required: ["type"],
  oneOf: [
    moduleBranch("failover", "failover module", { failback, failback_delay: failbackDelay, prefer, resources }, []),
    moduleBranch("mirror", "mirror module", {
      failback,
      failback_delay: failbackDelay,
      prefer,
      resources,
      replicate: list(
        text("absolute-path", "A directory mirrored to the other node."),
        "a list of at least one absolute directory, like [/var/lib/vms]",
        "Directories mirrored synchronously to the other node.",
        { minItems: 1 },
      ),
      port: integer(1, 65535, "TCP port of this module's replication link (authenticated and encrypted with the cluster key).", { default: DEFAULTS.module.mirror_port }),
      resync_rate: integer(1, 1_000_000, "Cap on a resync's data, in MiB/s, so it leaves room for the service's own writes. Default: none."),
      mode: oneOf(["sync", "async"], "sync (default): a write returns once the other node applied it, an fsync once it synced, so a failover loses nothing. async: a write returns once it is on this node and queued for the other one (up to async_queue); a failover loses what the queue held.", { default: DEFAULTS.module.mirror_mode }),
      ack_timeout: duration(
        "How long the other node may take to apply one replicated write (acknowledge it) before the link to it is dropped and this node goes on alone, journaling, as when the link is down (DRBD's timeout x ko-count). 0s: no bound. At least 1s otherwise.",
        DEFAULTS.module.mirror_ack_timeout,
      ),
      disk_timeout: duration(
        "How long the disk beneath the standby's copy may finish none of its writes before the standby detaches its copy (DRBD's disk-timeout): the writes it owes fail at once, the primary goes on alone, journaling, the copy is outdated until the disk answers again and a resync has run, and the standby stays manageable, saying why. Below ack_timeout, so the standby says it first. 0s: never. At least 1s otherwise.",
        DEFAULTS.module.mirror_disk_timeout,
      ),
      async_queue: integer(1, 65_536, "mode async: MiB of writes this node may acknowledge ahead of the other one; when full, writes wait. Default 64."),
      read: oneOf(
        ["cache", "direct"],
        "How this node serves reads of files opened read-only while it is primary. cache (default): through the page cache, with read-ahead, re-reads kept in memory. direct: direct I/O from the file beneath (as for a reader's O_DIRECT), nothing kept: faster large sequential reads on fast storage (video playback), slower small ones. Opens for writing are served alike. Kernel passthrough is not offered: a file opened for writing while a reader has it open would fail with EIO, and writes through a shared mapping would not be replicated.",
        {
          default: DEFAULTS.module.mirror_read,
          expected: "cache or direct (passthrough is not offered: a file opened for writing while a reader has it open would fail with EIO, and writes through its shared mappings would not be replicated)",
        },
      ),
      exclude: list(
        text("exclude-pattern", "A shell glob over one name (*, ?, [a-z]), like \"*.tmp\" or \"cache\"."),
        "a list of name patterns, like [\"*.tmp\", cache]",
        "Names (at any depth) whose files and folders are not mirrored: served here, never sent to the other node, never compared. Default: none.",
      ),
    }, ["replicate"]),
    moduleBranch("farm", "farm module", {
      ports: list(integer(1, 65535, "A port."), "a list of at least one port, like [80, 443]", "The ports whose clients are shared out.", {
        minItems: 1,
        uniqueItems: true,
      }),
      split: oneOf(["client_ip", "client_ip_port"], "What decides which node serves a client.", { default: DEFAULTS.module.split }),
      weights: {
        type: "object",
        additionalProperties: integer(1, 1000, "A node's weight."),
        expected: "a mapping of node name to a weight from 1 to 1000, like { web1: 1, web2: 2 }",
        description: "Each node's share of the clients relative to the others; a node not listed weighs 1.",
        default: {},
      },
      drain_timeout: duration("How long `vigil stop MODULE` lets this node's established connections finish before it removes the VIP.", DEFAULTS.module.drain_timeout),
    }, ["ports"]),
  ],
};

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
    console: consoleSchema,
    log: mapping("log", {
      file_size: integer(1, 1024, "MiB a log file in the state dir (vigil.log) may reach before it becomes vigil.log.1.", { default: 4 }),
      files: integer(0, 100, "Older log files kept beside vigil.log (vigil.log.1 is the newest); 0 keeps none.", { default: 1 }),
    }, [], { description: "The daemon's log file in its state dir. Lines also go to stderr (the journal under systemd)." }),
    witness: mapping("witness", {
      listen: text("listen", `Where \`vigil witness\` (the arbiter) listens. Default: every address, on the port of cluster.witness.arbiter (${DEFAULTS.witness.port} without one).`),
    }, [], { description: "Only for the machine that runs `vigil witness`; it answers the nodes of cluster.nodes." }),
  },
};
