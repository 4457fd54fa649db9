/**
 * haresources into failover modules: each line one module, its first node
 * preferred, its resources in order (IPaddr/IPaddr2 as VIPs, plain names as
 * systemd services); what vigil has no resource for is a comment.
 */
import { join } from "node:path";
import { isIPv4 } from "../config/formats.ts";
import { whereText } from "./import-error.ts";
import type { Directive, HeartbeatSource } from "./heartbeat-parse.ts";
import { maskToPrefix, nameOf } from "./values.ts";
import { comment, entry, type YEntry, type YMap, ymap, type YValue } from "./yaml-out.ts";

const at = (d: Directive, text: string): string => `${whereText(d.where)}: ${d.words.slice(0, 3).join(" ")}${d.words.length > 3 ? " ..." : ""}: ${text}`;

/** A resource's note: the file:line of its haresources line and the resource itself. */
const atResource = (d: Directive, spec: string, text: string): string => `${whereText(d.where)}: ${spec}: ${text}`;

interface Resource {
  value: YMap | undefined;
  notes: string[];
  service?: string;
  /** A resource script of the folder's resource.d, run through wrapper scripts. */
  script?: string;
}

function ipResource(spec: string, d: Directive, notes: string[], interfaces: readonly string[]): YMap | undefined {
  const at = (_d: Directive, text: string): string => atResource(d, spec, text);
  const [addr, mask, given, brd] = spec.split("/");
  let iface = given;
  if (addr === undefined || !isIPv4(addr)) {
    notes.push(at(d, `"${spec}" is not an IPv4 address: left out`));
    return undefined;
  }
  let prefix: number | undefined;
  if (mask === undefined || mask === "") {
    notes.push(at(d, `${addr} has no prefix: Heartbeat took it from the interface's route; vigil adds exactly what is written: /32 here, write the subnet's prefix (like /24) if the VIP should bring its subnet route`));
    prefix = 32;
  } else {
    prefix = /^\d{1,2}$/.test(mask) && Number(mask) <= 32 ? Number(mask) : maskToPrefix(mask);
    if (prefix === undefined) {
      notes.push(at(d, `"${mask}" is not a prefix length or netmask: ${addr} left out`));
      return undefined;
    }
  }
  if (brd !== undefined && brd !== "") notes.push(at(d, `broadcast ${brd}: vigil lets the kernel derive it`));
  if (iface === undefined || iface === "") {
    // Heartbeat's findif picked the interface from the routes; vigil wants it written.
    iface = interfaces[0] ?? "eth0";
    notes.push(at(d, `no interface: Heartbeat found it from the routes; ${iface} written${interfaces.length === 0 ? " (CHANGE it to the right one)" : " (the first heartbeat link's): check"}`));
  }
  return ymap(entry("vip", `${addr}/${prefix}`), ...(iface !== undefined && iface !== "" ? [entry("interface", iface)] : []));
}

const RESOURCE_NOTES: Record<string, string> = {
  Filesystem: "vigil does not mount shared storage: a mirror module replicates the folder instead (no shared disk), or mount it from start/stop scripts",
  drbddisk: "DRBD: a mirror module (type: mirror, replicate: [folder]) replicates synchronously without DRBD",
  MailTo: "vigil sends no mail: a module webhook or notify script does that job",
  IPsrcaddr: "vigil does not change the source address of outgoing traffic; use a start script",
  SendArp: "vigil sends gratuitous ARP for every VIP it adds",
  Delay: "vigil starts resources one after the other; a start script can sleep if one needs time",
  portblock: "vigil has no port blocking resource; a start/stop script with nft does that",
  ldirectord: "no LVS in vigil; a farm module shares a VIP's clients among nodes",
  LVSSyncDaemonSwap: "no LVS in vigil",
};

/**
 * A script of the imported folder's resource.d (Heartbeat ran it with start
 * and stop): systemd has no unit of that name, and vigil runs scripts without
 * arguments, so it becomes a pair of wrapper scripts the comment spells out.
 */
function resourceScript(name: string, d: Directive, dir: string): Resource {
  const start = `./${name}-start.sh`;
  const stop = `./${name}-stop.sh`;
  const script = `/etc/ha.d/resource.d/${name}`;
  return {
    value: ymap(entry("start", start), entry("stop", stop)),
    notes: [atResource(d, name, `a Heartbeat resource script (${join(dir, "resource.d", name)}), which systemd has no unit for; vigil runs scripts without arguments: put "exec ${script} start" in ${start} and "exec ${script} stop" in ${stop} beside this file (executable)`)],
    script: name,
  };
}

function resourceOf(spec: string, d: Directive, interfaces: readonly string[], scripts: readonly string[], dir: string): Resource {
  const notes: string[] = [];
  const at = (_d: Directive, text: string): string => atResource(d, spec, text);
  const [name, ...args] = spec.split("::");
  if (name === undefined || name === "") return { value: undefined, notes: [at(d, `empty resource "${spec}": left out`)] };
  if (name === "IPaddr" || name === "IPaddr2") return { value: ipResource(args[0] ?? "", d, notes, interfaces), notes };
  if (isIPv4(name.split("/")[0] ?? "")) return { value: ipResource(spec, d, notes, interfaces), notes };
  const why = RESOURCE_NOTES[name];
  if (why !== undefined) return { value: undefined, notes: [at(d, why)] };
  if (args.length > 0) {
    return {
      value: undefined,
      notes: [at(d, `a resource script with arguments; vigil runs start/stop scripts without arguments: write start and stop scripts that run "/etc/ha.d/resource.d/${name} ${args.join(" ")} start|stop" and list them as { start: ..., stop: ... }`)],
    };
  }
  if (scripts.includes(name) && /^[A-Za-z0-9_.@-]+$/.test(name)) return resourceScript(name, d, dir);
  if (!/^[A-Za-z0-9_:@][A-Za-z0-9_.:@\\-]{0,254}$/.test(name)) return { value: undefined, notes: [at(d, `"${name}" cannot be a systemd unit name: left out`)] };
  return { value: ymap(entry("service", name)), notes, service: name };
}

export function modulesOf(src: HeartbeatSource, names: readonly string[], interfaces: readonly string[], failback: { value: string; d: Directive } | undefined, warnings: string[]): YMap {
  if (src.haresources === undefined) {
    warnings.push(`no ${src.dir}/haresources: no module imported`);
    return ymap(comment(`No haresources in ${src.dir}: no failover module was imported.`));
  }
  const modules: YValue[] = [];
  const skipped: YEntry[] = [];
  const used = new Set<string>();
  const failbackNotes: string[] = [];
  let failbackValue: string | undefined;
  if (failback !== undefined) {
    if (["on", "yes", "true"].includes(failback.value)) failbackValue = "auto";
    else {
      failbackValue = "manual";
      if (failback.value === "legacy") failbackNotes.push(at(failback.d, "legacy: vigil has no legacy mode; manual written (the module stays until `vigil swap`)"));
    }
  } else {
    failbackNotes.push("ha.cf has no auto_failback: Heartbeat's default depends on its version (legacy); manual written (auto moves back to prefer)");
    failbackValue = "manual";
  }
  for (const line of src.haresources) {
    const [owner = "", ...specs] = line.words;
    const notes: string[] = [];
    const resources: YMap[] = [];
    // The module is named after its first service or script, in haresources' order.
    let named: string | undefined;
    for (const spec of specs) {
      const r = resourceOf(spec, line, interfaces, src.resourceScripts, src.dir);
      notes.push(...r.notes);
      if (r.value !== undefined) resources.push(r.value);
      named ??= r.service ?? r.script;
      if (r.service !== undefined) {
        notes.push(atResource(line, r.service, `Heartbeat ran /etc/ha.d/resource.d/${r.service} or /etc/init.d/${r.service} start|stop; vigil runs \`systemctl start|stop ${r.service}\` (for a script instead: { start: ..., stop: ... })`));
      }
    }
    const firstIp = resources.map((r) => r.entries.find((e) => "key" in e && e.key === "vip")).find((e) => e !== undefined);
    let name = nameOf(named ?? (firstIp !== undefined && "key" in firstIp ? `ip-${String(firstIp.value).split("/")[0]}` : "group"), "group");
    for (let k = 2; used.has(name); k++) name = `${named ?? "group"}-${k}`;
    used.add(name);
    if (resources.length === 0) {
      skipped.push(comment(...notes, `${whereText(line.where)}: nothing on this line maps to a vigil resource: no module for it`));
      continue;
    }
    const preferName = nameOf(owner, owner);
    const fields: YEntry[] = [
      ...(notes.length > 0 ? [comment(...notes)] : []),
      entry("name", name),
      entry("type", "failover"),
    ];
    if (names.includes(preferName)) fields.push(entry("prefer", preferName, [`haresources' first field: ${owner} runs it while it is up`]));
    else fields.push(comment(`${whereText(line.where)}: ${owner} is not a node of ha.cf: no prefer written`));
    fields.push(entry("failback", failbackValue, failbackNotes));
    fields.push(entry("resources", resources, ["started in this order, stopped in reverse, as haresources does"]));
    modules.push(ymap(...fields));
  }
  if (modules.length === 0) return ymap(...skipped, comment("No haresources line maps to a module."));
  return ymap(...skipped, entry("modules", modules));
}
