/**
 * The farm table's memory of UDP flows (`flows`, ruleset.ts) read and
 * written outside the packet path: the flows this node answers itself
 * (FLOW_SELF), told to a peer that listens before taking buckets, and the
 * flows a peer told us it answers, recorded as that peer's.
 *
 * Both go as nf_tables netlink messages where the socket opens (the Bun
 * binary as root): a GETSETELEM dump to read (nft-set-dump.ts), set element
 * batches to write, without starting nft, which on a loaded machine takes
 * long enough to starve the daemon's lease renewals. Elsewhere they go
 * through `nft -j list table` and `nft -f`.
 *
 * Writing must replace a record the packet path may have made meanwhile with
 * another owner: the kernel refuses to add an element that exists with other
 * data ("File exists"), and deleting one that does not exist fails the
 * transaction. So the map is read first and each flow is added, or deleted
 * and added, as it stands; a datagram that creates a record between the read
 * and the write fails the transaction, which is then tried again on a fresh read.
 */
import { errnoName } from "../ffi/libc.ts";
import { listTableJson, applyRuleset } from "../nft.ts";
import { markKey, type SetOp } from "./nft-netlink.ts";
import { SetDumpError, type SetElement } from "./nft-set-dump.ts";
import { farmTableName, FLOW_SELF, FLOW_TIMEOUT_S } from "./ruleset.ts";
import { filterInSlices, forEachInSlices, nextTurn, type SliceOptions } from "./slices.ts";
import { nftNetlink, nftNetlinkReads } from "./table.ts";

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
  const name = farmTableName(module);
  const hex = `0x${value.toString(16)}`;
  const { change, replaced } = flowsToRecord(module, flows, value, current);
  return change.flatMap((f) => {
    const k = flowKeyText(f);
    const add = `add element inet ${name} flows { ${k} timeout ${FLOW_TIMEOUT_S}s : ${hex} }`;
    return replaced.has(f) ? [`delete element inet ${name} flows { ${k} }`, add] : [add];
  });
}

/**
 * Which of `flows` must be written to be recorded with `value` (each once,
 * in order), and which of those hold another owner now (deleted first).
 */
function flowsToRecord(module: string, flows: readonly FlowKey[], value: number, current: FlowRecords): { change: FlowKey[]; replaced: Set<FlowKey> } {
  if (!Number.isInteger(value) || value < 1 || value >= FLOW_SELF) throw new RangeError(`farm ${module}: flow owner ${value} is not a peer value 1-${FLOW_SELF - 1}`);
  const change: FlowKey[] = [];
  const replaced = new Set<FlowKey>();
  const seen = new Set<string>();
  for (const f of flows) {
    const k = flowKeyText(f);
    const now = current.get(k);
    if (now?.value === value || seen.has(k)) continue;
    seen.add(k);
    if (now !== undefined) replaced.add(f);
    change.push(f);
  }
  return { change, replaced };
}

/**
 * A flow's key as the kernel holds it: the client address, then the client
 * port and the VIP port, each part of the concatenation padded to 4 bytes,
 * all in network byte order (checked against the kernel: lab test
 * farm-flows-netlink).
 */
export function flowKeyBytes(k: FlowKey): Uint8Array {
  const b = new Uint8Array(12);
  const v = new DataView(b.buffer);
  v.setUint32(0, k.client >>> 0);
  v.setUint16(4, k.port);
  v.setUint16(8, k.vipPort);
  return b;
}

/** Adds the records of elements[from..to) to `out`; the error of the first element that is not a flow record. */
function addFlowRecords(out: Map<string, { key: FlowKey; value: number }>, elements: readonly SetElement[], from: number, to: number): SetDumpError | undefined {
  for (let i = from; i < to; i++) {
    const e = elements[i];
    if (e === undefined) continue;
    if (e.key.length !== 12) return new SetDumpError("malformed", `flow record ${i}: key of ${e.key.length} bytes, expected 12 (address . port . port)`, 0);
    if (e.data?.length !== 4) return new SetDumpError("malformed", `flow record ${i}: value of ${e.data?.length ?? 0} bytes, expected a 4-byte mark`, 0);
    const k = new DataView(e.key.buffer, e.key.byteOffset, 12);
    const key = { client: k.getUint32(0), port: k.getUint16(4), vipPort: k.getUint16(8) };
    out.set(flowKeyText(key), { key, value: new DataView(e.data.buffer, e.data.byteOffset, 4).getUint32(0, true) });
  }
  return undefined;
}

/** The `flows` map's records from its elements as the kernel dumped them; a key or value of another size is an error. */
export function flowRecordsFromElements(elements: readonly SetElement[]): { ok: true; records: FlowRecords } | { ok: false; error: SetDumpError } {
  const out = new Map<string, { key: FlowKey; value: number }>();
  const error = addFlowRecords(out, elements, 0, elements.length);
  return error === undefined ? { ok: true, records: out } : { ok: false, error };
}

/** The records of `elements` built in slices of a few milliseconds (slices.ts): a full map is 65536. */
export async function flowRecordsInSlices(
  elements: readonly SetElement[],
  opts: SliceOptions = {},
): Promise<{ ok: true; records: FlowRecords } | { ok: false; error: SetDumpError }> {
  const out = new Map<string, { key: FlowKey; value: number }>();
  let error: SetDumpError | undefined;
  await forEachInSlices(
    elements,
    (_, i) => {
      error = addFlowRecords(out, elements, i, i + 1);
      return error === undefined;
    },
    opts,
  );
  return error === undefined ? { ok: true, records: out } : { ok: false, error };
}

/** ownFlows in slices. */
export async function ownFlowsInSlices(records: FlowRecords, opts: SliceOptions = {}): Promise<FlowKey[]> {
  return (await filterInSlices(records.values(), (r) => r.value === FLOW_SELF, opts)).map((r) => r.key);
}

/**
 * The set operations that make each of `flows` recorded with `value`, given
 * what the map holds now (as recordFlowLines); empty: nothing to do.
 */
export function recordFlowOps(module: string, flows: readonly FlowKey[], value: number, current: FlowRecords): SetOp[] {
  const { change, replaced } = flowsToRecord(module, flows, value, current);
  const replace = change.filter((f) => replaced.has(f)).map(flowKeyBytes);
  const add = change.map(flowKeyBytes);
  return [
    ...(replace.length > 0 ? [{ op: "delete" as const, set: "flows", keys: replace }] : []),
    ...(add.length > 0 ? [{ op: "add" as const, set: "flows", keys: add, timeoutMs: FLOW_TIMEOUT_S * 1000, data: add.map(() => markKey(value)) }] : []),
  ];
}

type Read = { ok: true; records: FlowRecords } | { ok: false; message: string };

async function readViaNetlink(module: string): Promise<Read | undefined> {
  const link = await nftNetlinkReads();
  if (link === null) return undefined;
  const what = `farm ${module}: cannot read its UDP flows: nf_tables netlink`;
  let d;
  try {
    d = await link.dump(farmTableName(module), "flows");
  } catch (e) {
    return { ok: false, message: `${what}: ${e instanceof Error ? e.message : String(e)}` };
  }
  if (!d.ok) return { ok: false, message: `${what}: ${d.error.errno === undefined ? d.error.message : `the kernel refused the dump: ${errnoName(d.error.errno)}`}` };
  const r = await flowRecordsInSlices(d.elements);
  return r.ok ? r : { ok: false, message: `${what}: ${r.error.message}` };
}

/**
 * Flows per netlink transaction. A batch for a full map (65536) is larger
 * than the socket sends (EMSGSIZE: the write failed as a whole), and building
 * and applying one chunk per turn keeps each turn of the event loop short. A
 * flow's delete and add stay in one transaction.
 */
export const FLOWS_PER_WRITE = 256;

/** The set operations for `flows`, FLOWS_PER_WRITE flows at a time (chunks with nothing to do are left out), each flow once. */
export function* flowOpChunks(flows: readonly FlowKey[], opsOf: (chunk: readonly FlowKey[]) => SetOp[]): Generator<SetOp[]> {
  // A flow named twice goes in its first chunk only: a later chunk's operations come from the same reading.
  const seen = new Set<string>();
  for (let at = 0; at < flows.length; at += FLOWS_PER_WRITE) {
    const chunk = flows.slice(at, at + FLOWS_PER_WRITE).filter((f) => {
      const k = flowKeyText(f);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    const ops = opsOf(chunk);
    if (ops.length > 0) yield ops;
  }
}

/**
 * Applies the chunks over netlink, one transaction per turn of the event loop;
 * undefined when there is no socket (use nft). A failed chunk ends the write
 * (the caller reads again and writes what is still to do).
 */
async function writeViaNetlink(module: string, chunks: Iterable<SetOp[]>): Promise<{ ok: true; changed: number } | { ok: false; message: string } | undefined> {
  const link = await nftNetlink();
  if (link === null) return undefined;
  let changed = 0;
  let first = true;
  for (const ops of chunks) {
    if (!first) await nextTurn();
    first = false;
    let out;
    try {
      out = link.apply(farmTableName(module), ops);
    } catch (e) {
      return { ok: false, message: `nf_tables netlink: ${e instanceof Error ? e.message : String(e)}` };
    }
    if (out.errno !== 0) return { ok: false, message: `nf_tables netlink: ${errnoName(out.errno)} in operation ${out.op + 1} of ${ops.length}` };
    // An add writes each flow it names; an unrecord only deletes.
    const add = ops.find((o) => o.op === "add");
    const del = ops.find((o) => o.op === "delete");
    changed += add !== undefined && add.op === "add" ? add.keys.length : del !== undefined && del.op === "delete" ? del.keys.length : 0;
  }
  return { ok: true, changed };
}

export async function readFlowRecords(module: string): Promise<Read> {
  const viaNetlink = await readViaNetlink(module);
  if (viaNetlink !== undefined) return viaNetlink;
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
    const viaNetlink = await writeViaNetlink(module, flowOpChunks(flows, (c) => recordFlowOps(module, c, value, cur.records)));
    if (viaNetlink?.ok === true) return viaNetlink;
    if (viaNetlink === undefined) {
      const lines = recordFlowLines(module, flows, value, cur.records);
      if (lines.length === 0) return { ok: true, changed: 0 };
      const w = await applyRuleset([...lines, ""].join("\n"), { needFor: NEED });
      if (w.ok) return { ok: true, changed: lines.filter((l) => l.startsWith("add ")).length };
      last = w.message;
    } else last = viaNetlink.message;
  }
  return { ok: false, message: `farm ${module}: cannot record the UDP flows a peer told: ${last}` };
}

/** The nft lines that delete our records of `flows` that still name the peer whose value is `value`. */
export function unrecordFlowLines(module: string, flows: readonly FlowKey[], value: number, current: FlowRecords): string[] {
  const name = farmTableName(module);
  return [...new Set(flows.filter((f) => current.get(flowKeyText(f))?.value === value).map(flowKeyText))].map((k) => `delete element inet ${name} flows { ${k} }`);
}

/** The same as one set operation (none: nothing to do). */
export function unrecordFlowOps(flows: readonly FlowKey[], value: number, current: FlowRecords): SetOp[] {
  const keys = new Map(flows.filter((f) => current.get(flowKeyText(f))?.value === value).map((f) => [flowKeyText(f), flowKeyBytes(f)]));
  return keys.size > 0 ? [{ op: "delete", set: "flows", keys: [...keys.values()] }] : [];
}

/** Deletes our records of `flows` still naming the peer whose value is `value` (it says it does not answer them). */
export async function unrecordFlows(module: string, flows: readonly FlowKey[], value: number): Promise<{ ok: true; changed: number } | { ok: false; message: string }> {
  let last = "";
  for (let i = 0; i < TRIES; i++) {
    const cur = await readFlowRecords(module);
    if (!cur.ok) return cur;
    const viaNetlink = await writeViaNetlink(module, flowOpChunks(flows, (c) => unrecordFlowOps(c, value, cur.records)));
    if (viaNetlink?.ok === true) return viaNetlink;
    if (viaNetlink === undefined) {
      const lines = unrecordFlowLines(module, flows, value, cur.records);
      if (lines.length === 0) return { ok: true, changed: 0 };
      const w = await applyRuleset([...lines, ""].join("\n"), { needFor: NEED });
      if (w.ok) return { ok: true, changed: lines.length };
      last = w.message;
    } else last = viaNetlink.message;
    // A record that expired meanwhile fails the delete: read again.
  }
  return { ok: false, message: `farm ${module}: cannot remove the UDP flow records a peer disclaimed: ${last}` };
}
