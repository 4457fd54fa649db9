/**
 * The farm table's memory of UDP flows (`flows`, ruleset.ts) read and
 * written outside the packet path: the flows this node answers itself
 * (FLOW_SELF), told to a peer that listens before taking buckets, and the
 * flows a peer told us it answers, recorded as that peer's.
 *
 * Reading goes through `nft -j list table` (a few per start of a peer).
 * Writing must replace a record the packet path may have made meanwhile with
 * another owner: nft refuses to add an element that exists with other data
 * ("File exists"), and deleting one that does not exist fails the
 * transaction. So the map is read first and each flow is added, or deleted
 * and added, as it stands; a datagram that creates a record between the read
 * and the write fails the transaction, which is then tried again on a fresh read.
 */
import { listTableJson, applyRuleset } from "../nft.ts";
import { farmTableName, FLOW_SELF, FLOW_TIMEOUT_S } from "./ruleset.ts";

const NEED = "farm modules";
const TRIES = 3;

export interface FlowKey {
  readonly client: number;
  readonly port: number;
  readonly vipPort: number;
}

export type FlowRecords = ReadonlyMap<string, { readonly key: FlowKey; readonly value: number }>;

function ipv4Text(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

function ipv4Number(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return parts.reduce((a, p) => a * 256 + p, 0);
}

/** The element key as nft writes it: `198.51.100.7 . 40000 . 53`. */
export function flowKeyText(k: FlowKey): string {
  return `${ipv4Text(k.client)} . ${k.port} . ${k.vipPort}`;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/** One map element `[ {elem: {val: {concat: [ip, port, port]}, ...}} | {concat: [...]}, value ]`. */
function parseElement(e: unknown): { key: FlowKey; value: number } | undefined {
  if (!Array.isArray(e) || e.length !== 2) return undefined;
  const [k, v] = e as [unknown, unknown];
  if (typeof v !== "number" || !Number.isInteger(v)) return undefined;
  const inner = isRecord(k) && isRecord(k.elem) ? k.elem.val : k;
  const concat = isRecord(inner) ? inner.concat : undefined;
  if (!Array.isArray(concat) || concat.length !== 3) return undefined;
  const [ip, port, vipPort] = concat as [unknown, unknown, unknown];
  const client = typeof ip === "string" ? ipv4Number(ip) : undefined;
  if (client === undefined || typeof port !== "number" || typeof vipPort !== "number") return undefined;
  return { key: { client, port, vipPort }, value: v };
}

/** The `flows` map's records from `nft -j list table` output of a farm table. */
export function parseFlowRecords(json: string): { ok: true; records: FlowRecords } | { ok: false; message: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (e) {
    return { ok: false, message: `nft -j output is not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  const items = isRecord(doc) ? doc.nftables : undefined;
  if (!Array.isArray(items)) return { ok: false, message: "nft -j output has no nftables array" };
  const map = items.map((x) => (isRecord(x) && isRecord(x.map) ? x.map : undefined)).find((m) => m?.name === "flows");
  if (map === undefined) return { ok: false, message: "the farm table has no flows map" };
  const out = new Map<string, { key: FlowKey; value: number }>();
  const elems = Array.isArray(map.elem) ? map.elem : [];
  for (const e of elems) {
    const r = parseElement(e);
    if (r !== undefined) out.set(flowKeyText(r.key), r);
  }
  return { ok: true, records: out };
}

/** Flows answered by this node itself. */
export function ownFlows(records: FlowRecords): FlowKey[] {
  return [...records.values()].filter((r) => r.value === FLOW_SELF).map((r) => r.key);
}

/**
 * The nft lines that make each of `flows` recorded with `value`, given what
 * the map holds now: added where absent, deleted and added where another
 * owner is recorded, left where it already is. Empty: nothing to do.
 */
export function recordFlowLines(module: string, flows: readonly FlowKey[], value: number, current: FlowRecords): string[] {
  if (!Number.isInteger(value) || value < 1 || value >= FLOW_SELF) throw new RangeError(`farm ${module}: flow owner ${value} is not a peer value 1-${FLOW_SELF - 1}`);
  const name = farmTableName(module);
  const lines: string[] = [];
  const hex = `0x${value.toString(16)}`;
  for (const f of flows) {
    const k = flowKeyText(f);
    const now = current.get(k);
    if (now?.value === value) continue;
    if (now !== undefined) lines.push(`delete element inet ${name} flows { ${k} }`);
    lines.push(`add element inet ${name} flows { ${k} timeout ${FLOW_TIMEOUT_S}s : ${hex} }`);
  }
  return lines;
}

export async function readFlowRecords(module: string): Promise<{ ok: true; records: FlowRecords } | { ok: false; message: string }> {
  const r = await listTableJson("inet", farmTableName(module), { needFor: NEED });
  if (!r.ok) return { ok: false, message: `farm ${module}: cannot read its UDP flows: ${r.message}` };
  const p = parseFlowRecords(r.stdout);
  return p.ok ? p : { ok: false, message: `farm ${module}: cannot read its UDP flows: ${p.message}` };
}

/** Records `flows` as answered by the peer whose value is `value`; returns how many records changed. */
export async function recordFlows(module: string, flows: readonly FlowKey[], value: number): Promise<{ ok: true; changed: number } | { ok: false; message: string }> {
  let last = "";
  for (let i = 0; i < TRIES; i++) {
    const cur = await readFlowRecords(module);
    if (!cur.ok) return cur;
    const lines = recordFlowLines(module, flows, value, cur.records);
    if (lines.length === 0) return { ok: true, changed: 0 };
    const w = await applyRuleset([...lines, ""].join("\n"), { needFor: NEED });
    if (w.ok) return { ok: true, changed: lines.filter((l) => l.startsWith("add ")).length };
    last = w.message;
  }
  return { ok: false, message: `farm ${module}: cannot record the UDP flows a peer told: ${last}` };
}
