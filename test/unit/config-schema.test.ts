import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { DEFAULT_HEARTBEAT_PORT } from "../../src/net/udp-transport.ts";
import { DEFAULTS } from "../../src/config/defaults.ts";
import { configSchema } from "../../src/config/schema.ts";
import type {
  ArbiterConfig, Checker, ConsoleConfig, ClusterConfig, FailoverModule, FarmModule, HeartbeatConfig, MirrorModule, NodeConfig, ResourceConfig, VigilConfig,
  VrrpInstance, WitnessConfig,
} from "../../src/config/types.ts";

type Schema = Record<string, unknown>;
const at = (s: unknown, ...path: (string | number)[]): Schema =>
  path.reduce<Schema>((n, k) => (n as Record<string | number, unknown>)[k] as Schema, s as Schema);
const keysOf = (s: Schema): string[] => Object.keys(at(s, "properties")).sort();

/**
 * Every key of each effective-config interface, listed so the compiler
 * rejects a missing or extra one. Where the file and the effective config
 * differ on purpose, the difference is spelled out below.
 */
type AllKeys<T> = { [K in keyof Required<T>]: true };
const keys = <T>(k: AllKeys<T>): string[] => Object.keys(k).sort();
/** Every key of any member of a union. */
type KeysOfUnion<T> = T extends unknown ? keyof T : never;

const moduleCommon = {
  name: true, type: true, vips: true, interface: true, start: true, stop: true, start_timeout: true, stop_timeout: true, checkers: true,
  notify: true, webhook: true,
} as const;
const failbackPolicy = { failback: true, failback_delay: true, prefer: true, resources: true } as const;

describe("the JSON Schema and the VigilConfig type agree", () => {
  it("has the same sections and keys", () => {
    expect(keysOf(configSchema as Schema)).toEqual(keys<VigilConfig>({ cluster: true, vrrp: true, modules: true, web: true, console: true, log: true, witness: true }));
    expect(keysOf(at(configSchema, "properties", "console"))).toEqual(
      keys<ConsoleConfig>({ users: true, tls: true, cert: true, key: true, names: true, session_timeout: true, api_token: true }),
    );
    const cluster = at(configSchema, "properties", "cluster");
    expect(keysOf(cluster)).toEqual(keys<ClusterConfig>({ name: true, key_file: true, nodes: true, heartbeat: true, witness: true }));
    expect(keysOf(at(cluster, "properties", "witness"))).toEqual(keys<WitnessConfig>({ ping: true, arbiter: true, lease: true, grace: true }));
    expect(keysOf(at(configSchema, "properties", "witness"))).toEqual(keys<ArbiterConfig>({ listen: true }));
    expect(keysOf(at(cluster, "properties", "nodes", "items"))).toEqual(keys<NodeConfig>({ name: true, addresses: true }));
    expect(keysOf(at(cluster, "properties", "heartbeat"))).toEqual(
      keys<HeartbeatConfig>({ preset: true, interval: true, warntime: true, deadtime: true, initdead: true, port: true, links: true }),
    );
    // nopreempt is keepalived's spelling of preempt: false; the effective config keeps preempt only.
    expect(keysOf(at(configSchema, "properties", "vrrp", "items")).filter((k) => k !== "nopreempt")).toEqual(keys<VrrpInstance>({
      name: true, interface: true, vrid: true, version: true, advert_int: true, priority: true, vips: true, track: true,
      preempt: true, preempt_delay: true, unicast_peer: true, authentication: true, unicast_src_ip: true,
      down_timer_adverts: true, garp_master_repeat: true, garp_interval: true, garp_master_delay: true, garp_master_refresh: true, accept_mode: true, heartbeat_takeover: true, heartbeat_hold: true, sync_group: true,
      notify: true, notify_master: true, notify_backup: true, notify_fault: true, notify_stop: true,
    }));
  });

  it("has the module and checker keys of the types (vip in the file becomes vips)", () => {
    const branches = at(configSchema, "properties", "modules", "items", "oneOf") as unknown as Schema[];
    const [failover, mirror, farm] = branches.map((b) => keysOf(b).filter((k) => k !== "vip"));
    expect(failover).toEqual(keys<FailoverModule>({ ...moduleCommon, ...failbackPolicy }));
    expect(mirror).toEqual(keys<MirrorModule>({ ...moduleCommon, ...failbackPolicy, replicate: true, port: true, resync_rate: true, mode: true, ack_timeout: true, disk_timeout: true, async_queue: true, exclude: true, read: true }));
    expect(farm).toEqual(keys<FarmModule>({ ...moduleCommon, ports: true, split: true, weights: true, drain_timeout: true }));
    // A checker is one target kind plus its policy; the union type is flattened here.
    // script is the older spelling of custom: the effective config says custom.
    type CheckerKeys = { [K in KeysOfUnion<Checker>]: true };
    const flat: CheckerKeys & Record<"script", true> = {
      tcp: true, http: true, status: true, body: true, tls_verify: true, process: true, min: true, pidfile: true,
      ping: true, protocol: true, port: true, interface: true, file: true, exists: true, contains: true,
      custom: true, args: true, script: true, interval: true, timeout: true, fall: true, rise: true,
      on_fail: true, then: true, restarts: true, restart_window: true,
    };
    expect(keysOf(at(branches[0], "properties", "checkers", "items"))).toEqual(Object.keys(flat).sort());
    // A resource is a vip, a service or a start/stop pair.
    type ResourceKeys = { [K in KeysOfUnion<ResourceConfig>]: true };
    const resource: ResourceKeys = { vip: true, interface: true, service: true, start: true, stop: true, start_timeout: true, stop_timeout: true };
    expect(keysOf(at(branches[0], "properties", "resources", "items"))).toEqual(Object.keys(resource).sort());
  });

  it("is a valid draft-07 schema whose defaults are the ones the loader applies", () => {
    const ajv = new Ajv({ strict: false });
    expect(ajv.validateSchema(configSchema)).toBe(true);
    expect(at(configSchema, "properties", "web", "properties", "listen")["default"]).toBe(DEFAULTS.web.listen);
    expect(at(configSchema, "properties", "cluster", "properties", "heartbeat", "properties", "port")["default"]).toBe(DEFAULT_HEARTBEAT_PORT);
    expect(DEFAULTS.heartbeat.port).toBe(DEFAULT_HEARTBEAT_PORT);
    expect(at(configSchema, "properties", "vrrp", "items", "properties", "advert_int")["default"]).toBe("1s");
  });

  it("is plain JSON, as `vigil schema` prints it", () => {
    expect(JSON.parse(JSON.stringify(configSchema))).toEqual(configSchema);
  });
});
