/**
 * What the fuzzer feeds, one target per decoder of untrusted bytes: its
 * seeds (valid inputs made by the encoders), an optional fix-up that makes a
 * mutated input pass the outer integrity check (MAC, checksum, length field)
 * so the parser behind it is reached, and `run`, which decodes and throws
 * only when the decoder broke its contract: any exception but the typed
 * error, or an accepted input that does not encode back to the same bytes
 * where the codec promises that.
 *
 * Also the replay of test/fixtures/fuzz/<target>/ in test/unit/fuzz-corpus.test.ts.
 */
import { createHmac } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseCommandRequest } from "../../src/api/command-request.ts";
import { parseConfig } from "../../src/config/load.ts";
import { ByteDecodeError, ByteReader, ByteWriter } from "../../src/proto/bytes.ts";
import { internetChecksum, ipv4PseudoHeader } from "../../src/proto/checksum.ts";
import { decodeFarmFlows, encodeFarmFlows, FARM_FLOWS_MAC_BYTES, type FarmFlowsMessage } from "../../src/proto/farm-flows.ts";
import { decodeHeartbeat, encodeHeartbeat, HEARTBEAT_MAC_BYTES, type HeartbeatFrame } from "../../src/proto/heartbeat.ts";
import { readMirrorControl, writeMirrorControl } from "../../src/proto/mirror-control.ts";
import { decodeHandshake, encodeHandshake } from "../../src/proto/replication-handshake.ts";
import { decodeReplication, encodeReplication, type ReplicationMessage } from "../../src/proto/replication.ts";
import { decodeVrrp, encodeAdvert, encodeIpv4Datagram } from "../../src/proto/vrrp.ts";
import { decodeWitness, encodeWitness, WITNESS_MAC_BYTES, type WitnessMessage } from "../../src/proto/witness.ts";
import { relPath } from "../../src/replicator/ops.ts";
import { flowRecordsFromElements } from "../../src/sys/farm/flow-records.ts";
import { decodeSetDumpChunk, SetDumpError } from "../../src/sys/farm/nft-set-dump.ts";
import { Opcode, SIZE } from "../../src/sys/fuse/abi.ts";
import { decodeRequest, FuseDecodeError } from "../../src/sys/fuse/decode.ts";

export interface FuzzTarget {
  readonly name: string;
  /** Valid inputs; `root` is the repository (for example configs). */
  seeds(root: string): Uint8Array[];
  /** Makes a mutated input pass the outer check most of the time (in place or a new array). */
  fixup?(bytes: Uint8Array): Uint8Array;
  /** Words worth splicing in (YAML keys, JSON tokens). */
  readonly dictionary?: readonly string[];
  /** Decodes; throws only on a broken contract. */
  run(bytes: Uint8Array): void;
}

/** A decoder broke its contract in a way that is not an exception of its own (lossy acceptance). */
export class ContractError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ContractError";
  }
}

export const FUZZ_KEY = new Uint8Array(32).map((_, i) => (i * 29 + 3) & 0xff);
const utf8 = new TextEncoder();

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function resign(bytes: Uint8Array, macBytes: number): Uint8Array {
  if (bytes.length < macBytes + 6) return bytes;
  const at = bytes.length - macBytes;
  bytes.set(createHmac("sha256", FUZZ_KEY).update(bytes.subarray(0, at)).digest(), at);
  return bytes;
}

// ---- heartbeat ---------------------------------------------------------------

const HB: HeartbeatFrame = {
  cluster: "vms-pair", node: "vms1", epoch: (1_732_000_000_000n << 16n) | 0xbeefn, seq: 42, sentAt: 123_456.789, link: 1,
  echoes: [{ node: "vms2", sentAt: 120_000.5, heldMs: 3.25 }],
  modules: [{ module: "vms", role: "PRIM", generation: 17 }],
};

const heartbeat: FuzzTarget = {
  name: "heartbeat",
  seeds: () => [
    encodeHeartbeat(HB, FUZZ_KEY),
    encodeHeartbeat(HB, FUZZ_KEY, 1),
    encodeHeartbeat({ ...HB, echoes: [], modules: [] }, FUZZ_KEY),
    encodeHeartbeat({
      ...HB, leaving: true,
      modules: [{ module: "web", role: "ALONE", generation: 3, starting: true, failure: "start_prim exited 1 ✓" }, { module: "db", role: "SECOND", generation: 0 }],
      config: { digest: "0123456789abcdef", total: 40, first: 16, keys: [{ key: "cluster.heartbeat", hash: "fedcba9876543210" }, { key: "modules.web.vip", hash: "00000000000000ff" }] },
    }, FUZZ_KEY),
  ],
  fixup: (b) => resign(b, HEARTBEAT_MAC_BYTES),
  run(bytes) {
    const r = decodeHeartbeat(bytes, FUZZ_KEY);
    if (!r.ok) return;
    const version = bytes[4] ?? 0;
    let again: Uint8Array;
    try {
      again = encodeHeartbeat(r.frame, FUZZ_KEY, version);
    } catch (e) {
      throw new ContractError(`an accepted frame does not encode again: ${(e as Error).message}`);
    }
    if (!equalBytes(again, bytes)) throw new ContractError("an accepted frame encodes to other bytes");
  },
};

// ---- witness -----------------------------------------------------------------

const W_HEAD = { epoch: 77n, seq: 9, cluster: "vms-pair", node: "vms1", module: "web" };
const WITNESS_SEEDS: WitnessMessage[] = [
  { ...W_HEAD, type: "request", request: 3 },
  { ...W_HEAD, type: "release" },
  { ...W_HEAD, type: "grant", request: 3, peerEpoch: 5n, durationMs: 3000, token: 12, detail: "granted ✓" },
  { ...W_HEAD, type: "deny", request: 4, peerEpoch: 5n, token: 13, holder: "vms2", detail: "held" },
  { ...W_HEAD, type: "deny", request: 4, peerEpoch: 0n, token: 0, holder: null, detail: "" },
];

const witness: FuzzTarget = {
  name: "witness",
  seeds: () => WITNESS_SEEDS.map((m) => encodeWitness(m, FUZZ_KEY)),
  fixup: (b) => resign(b, WITNESS_MAC_BYTES),
  run(bytes) {
    decodeWitness(bytes, FUZZ_KEY);
  },
};

// ---- farm flow reports -----------------------------------------------------------

const FF_HEAD = { cluster: "vms-pair", module: "cams", from: "vms1", to: "vms2", askedAt: 1_732_000_000_123 };
const FARM_FLOWS_SEEDS: FarmFlowsMessage[] = [
  { ...FF_HEAD, type: "ask" },
  { ...FF_HEAD, type: "tell", part: 0, parts: 1, flows: [] },
  { ...FF_HEAD, type: "tell", part: 1, parts: 3, flows: [{ client: 0xcb007105, port: 40000, vipPort: 554 }, { client: 0xc6336405, port: 1, vipPort: 65535 }] },
];

const farmFlows: FuzzTarget = {
  name: "farm-flows",
  seeds: () => FARM_FLOWS_SEEDS.map((m) => encodeFarmFlows(m, FUZZ_KEY)),
  fixup: (b) => resign(b, FARM_FLOWS_MAC_BYTES),
  run(bytes) {
    decodeFarmFlows(bytes, FUZZ_KEY);
  },
};

// ---- nf_tables set dump (the farm's flow records) ------------------------------

const hexBytes = (s: string): Uint8Array => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
/** Replies captured from the kernel (test/unit/farm-set-dump.test.ts): two elements, the end, a refusal; sequence number 7. */
const SET_DUMP_SEEDS = [
  "980000000c0a020007000000a22900000100000506000100740000000a000200666c6f777300000070000300300001001400010010000100c63364079c400000003500000c00020008000100000001000c000500000000000001d4ac3c0001001400010010000100c6336408000100001f9000000c00020008000100030000000c00040000000000000075300c000500000000000000751c",
  "2c0000000c0a020007000000a22900000100000506000100740000000a000200666c6f777300000004000300140000000300020007000000a229000000000000",
  "3c0000000200000007000000a6290000feffffff280000000d0a010307000000000000000100000006000100740000000b0002006e6f737563680000",
];

const setDump: FuzzTarget = {
  name: "nft-set-dump",
  seeds: () => [...SET_DUMP_SEEDS.map(hexBytes), hexBytes(SET_DUMP_SEEDS[0]! + SET_DUMP_SEEDS[1]!)],
  // The first message's length field made to span the input, so a mutated element list is reached.
  fixup(b) {
    if (b.length >= 16) new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(0, b.length, true);
    return b;
  },
  run(bytes) {
    const r = decodeSetDumpChunk(bytes, 7);
    if (!r.ok) {
      if (!(r.error instanceof SetDumpError)) throw new ContractError("a refused reply's error is not a SetDumpError");
      return;
    }
    const records = flowRecordsFromElements(r.chunk.elements);
    if (!records.ok && !(records.error instanceof SetDumpError)) throw new ContractError("a bad flow record's error is not a SetDumpError");
  },
};

// ---- VRRP --------------------------------------------------------------------

/** Recomputes the IPv4 header checksum and the VRRP checksum of a datagram whose header fields still make sense. */
function vrrpFixup(b: Uint8Array): Uint8Array {
  if (b.length < 28) return b;
  const ihl = ((b[0] ?? 0) & 0x0f) * 4;
  if (ihl < 20 || ihl > b.length) return b;
  b[10] = 0;
  b[11] = 0;
  const ipSum = internetChecksum(b.subarray(0, ihl));
  b[10] = ipSum >> 8;
  b[11] = ipSum & 0xff;
  const total = ((b[2] ?? 0) << 8) | (b[3] ?? 0);
  if (total < ihl + 8 || total > b.length) return b;
  const msg = b.subarray(ihl, total);
  msg[6] = 0;
  msg[7] = 0;
  const v3 = (msg[0] ?? 0) >>> 4 === 3;
  const sum = v3 ? internetChecksum(ipv4PseudoHeader(b.subarray(12, 16), b.subarray(16, 20), 112, msg.length), msg) : internetChecksum(msg);
  msg[6] = sum >> 8;
  msg[7] = sum & 0xff;
  return b;
}

const ip = { src: "198.51.100.11", dst: "224.0.0.18" };
const wrap = (advert: Uint8Array): Uint8Array => encodeIpv4Datagram(advert, ip);
const vrrp: FuzzTarget = {
  name: "vrrp",
  seeds: () => [
    wrap(encodeAdvert({ version: 3, vrid: 51, priority: 150, advertIntCs: 10, addresses: ["198.51.100.100"] }, ip)),
    wrap(encodeAdvert({ version: 3, vrid: 1, priority: 255, advertIntCs: 4095, addresses: ["198.51.100.100", "203.0.113.7", "192.0.2.1"] }, ip)),
    wrap(encodeAdvert({ version: 2, vrid: 51, priority: 100, advertIntCs: 100, addresses: ["198.51.100.100"], auth: { type: "pass", password: "secret" } }, ip)),
    wrap(encodeAdvert({ version: 2, vrid: 9, priority: 0, advertIntCs: 25500, addresses: ["192.0.2.9"], auth: { type: "none" } }, ip)),
  ],
  fixup: vrrpFixup,
  run(bytes) {
    decodeVrrp(bytes);
    decodeVrrp(bytes, { version: 2, auth: { type: "pass", password: "secret" } });
    decodeVrrp(bytes, { version: 3 });
  },
};

// ---- replication -------------------------------------------------------------

const R = (...b: number[]): Uint8Array => new Uint8Array(b);
const REPLICATION_SEEDS: ReplicationMessage[] = [
  { type: "ready" },
  { type: "ping", id: 7 },
  { type: "op", seq: 1, op: { op: "write", path: relPath("a/b"), offset: 5, data: R(1, 2, 3), mtimeNs: 1_764_000_000_000_000_000n } },
  { type: "op", seq: 2, op: { op: "truncate", path: relPath("a"), size: 10, mtimeNs: -1n } },
  { type: "op", seq: 3, op: { op: "create", path: relPath("n"), mode: 0o644, uid: 0, gid: 0 } },
  { type: "op", seq: 4, op: { op: "mknod", path: relPath("fifo"), mode: 0o010644, rdev: 0, uid: 1, gid: 2 } },
  { type: "op", seq: 5, op: { op: "mkdir", path: relPath("d"), mode: 0o755, uid: 1, gid: 1 } },
  { type: "op", seq: 6, op: { op: "symlink", path: relPath("ln"), target: relPath("../x"), uid: 3, gid: 4 } },
  { type: "op", seq: 7, op: { op: "link", existing: relPath("a"), path: relPath("b") } },
  { type: "op", seq: 8, op: { op: "unlink", path: relPath("x") } },
  { type: "op", seq: 9, op: { op: "rmdir", path: relPath("d") } },
  { type: "op", seq: 10, op: { op: "rename", from: relPath("a"), to: relPath("b"), flags: 2 } },
  { type: "op", seq: 11, op: { op: "chmod", path: relPath("f"), mode: 0o1777 } },
  { type: "op", seq: 12, op: { op: "chown", path: relPath("f"), uid: 65534, gid: 65534 } },
  { type: "op", seq: 13, op: { op: "utimes", path: relPath("f"), atimeNs: 5n, mtimeNs: 1n } },
  { type: "op", seq: 14, op: { op: "fallocate", path: relPath("f"), mode: 3, offset: 4096, length: 8192, mtimeNs: 5n } },
  { type: "op", seq: 15, op: { op: "setxattr", path: relPath("f"), name: relPath("user.x"), value: R(9, 9), flags: 1 } },
  { type: "op", seq: 16, op: { op: "removexattr", path: relPath("f"), name: relPath("user.x") } },
  { type: "op", seq: 17, op: { op: "fsync", path: null, dataOnly: false } },
  { type: "op", seq: 18, op: { op: "create", path: relPath("d/n"), mode: 0o600, uid: 1, gid: 1, times: [{ path: relPath("d/n"), atimeNs: 7n, mtimeNs: 8n }, { path: relPath("d"), atimeNs: 9n, mtimeNs: -1n }] } },
  { type: "op", seq: 19, op: { op: "rename", from: relPath("a/x"), to: relPath("b/y"), flags: 0, times: [{ path: relPath("a"), atimeNs: 1n, mtimeNs: 2n }, { path: new Uint8Array(0), atimeNs: 3n, mtimeNs: 4n }, { path: relPath("b"), atimeNs: 5n, mtimeNs: 6n }] } },
  { type: "ack", seq: 3, result: { ok: true } },
  { type: "ack", seq: 4, result: { ok: false, kind: "inconsistent", errno: "ENOSPC", message: "no space ✓" } },
  { type: "close", reason: "bye" },
  { type: "request", id: 1, request: { kind: "manifest", under: new Uint8Array(0), recursive: true } },
  { type: "request", id: 2, request: { kind: "entry", path: relPath("a") } },
  { type: "request", id: 3, request: { kind: "sums", path: relPath("a"), blockSize: 65536, offset: 0, count: 4 } },
  { type: "request", id: 4, request: { kind: "cancel" } },
  { type: "request", id: 5, request: { kind: "next" } },
  { type: "response", id: 1, response: { kind: "end" } },
  { type: "response", id: 2, response: { kind: "entry", entry: null } },
  {
    type: "response", id: 2, response: {
      kind: "entries", entries: [
        { path: relPath("l"), type: "symlink", mode: 0o777, uid: 1, gid: 2, size: 4, mtimeNs: -5n, rdev: 0, target: R(1, 2, 3, 4), ino: 9n, nlink: 1, xattrs: [{ name: relPath("user.a"), value: R(0, 1) }] },
        { path: new Uint8Array(0), type: "dir", mode: 0o755, uid: 0, gid: 0, size: 0, mtimeNs: 1n, rdev: 0, ino: 2n, nlink: 3 },
      ],
    },
  },
  { type: "response", id: 3, response: { kind: "sums", sums: { size: 10, blockSize: 4096, offset: 0, sums: new Uint8Array(32).fill(3) } } },
  { type: "response", id: 3, response: { kind: "error", errno: "EIO", message: "read failed" } },
];

/** The control request and response (mirror-control.ts inside a replication message), built with the writer itself. */
function controlSeeds(): Uint8Array[] {
  const copy = { gen: "12:vms1", history: ["11:vms2", "3:vms1"], data: "outdated" as const, running: true, unclean: false };
  return (["state", "resync-begin", "resync-end", "resync-begin-keep"] as const).map((action) => {
    const w = new ByteWriter();
    writeMirrorControl(w, action, copy);
    return w.finish();
  });
}

function controlReplicationSeeds(): Uint8Array[] {
  const copy = { gen: "12:vms1", history: ["11:vms2"], data: "uptodate" as const, running: false, unclean: true };
  return [
    encodeReplication({ type: "request", id: 8, request: { kind: "control", action: "resync-begin-keep", copy } }),
    encodeReplication({ type: "response", id: 8, response: { kind: "control", copy } }),
  ];
}

const replication: FuzzTarget = {
  name: "replication",
  seeds: () => [...REPLICATION_SEEDS.map((m) => encodeReplication(m)), ...controlReplicationSeeds()],
  run(bytes) {
    const r = decodeReplication(bytes);
    if (!r.ok) return;
    let again: Uint8Array;
    try {
      again = encodeReplication(r.message);
    } catch (e) {
      throw new ContractError(`an accepted message does not encode again: ${(e as Error).message}`);
    }
    if (!equalBytes(again, bytes)) throw new ContractError("an accepted message encodes to other bytes");
  },
};

const mirrorControl: FuzzTarget = {
  name: "mirror-control",
  seeds: controlSeeds,
  run(bytes) {
    try {
      const r = new ByteReader(bytes);
      readMirrorControl(r);
      r.expectEnd("the control body");
    } catch (e) {
      if (!(e instanceof ByteDecodeError)) throw e;
    }
  },
};

const handshake: FuzzTarget = {
  name: "replication-handshake",
  seeds: () => {
    const nonce = new Uint8Array(32).fill(5);
    const proof = new Uint8Array(32).fill(6);
    return [
      encodeHandshake({ type: "client-hello", nonce, cluster: "vms-pair", node: "vms1", peer: "vms2" }),
      encodeHandshake({ type: "server-hello", nonce, cluster: "vms-pair", node: "vms2", peer: "vms1", proof }),
      encodeHandshake({ type: "proof", proof }),
      encodeHandshake({ type: "refuse", reason: "wrong cluster ✓" }),
    ];
  },
  run(bytes) {
    decodeHandshake(bytes);
  },
};

// ---- FUSE --------------------------------------------------------------------

function fuseRequest(opcode: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(SIZE.inHeader + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, out.length, true);
  v.setUint32(4, opcode, true);
  v.setBigUint64(8, 77n, true);
  v.setBigUint64(16, 1n, true);
  v.setUint32(24, 1000, true);
  v.setUint32(28, 100, true);
  v.setUint32(32, 4242, true);
  out.set(body, SIZE.inHeader);
  return out;
}

function fuseSeeds(): Uint8Array[] {
  const names = utf8.encode("name\0target\0");
  return Object.values(Opcode).map((op) => {
    // Enough fixed fields for the largest argument struct, then two names (most requests end in one or two).
    const body = new Uint8Array(96 + names.length);
    const v = new DataView(body.buffer);
    if (op === Opcode.WRITE || op === Opcode.SETXATTR) v.setUint32(op === Opcode.WRITE ? 16 : 0, 4, true);
    if (op === Opcode.BATCH_FORGET) v.setUint32(0, 2, true);
    const withNames = [Opcode.LOOKUP, Opcode.UNLINK, Opcode.RMDIR, Opcode.SYMLINK, Opcode.REMOVEXATTR].includes(op as 1);
    return fuseRequest(op, withNames ? names : body.map((b, i) => (i >= 96 ? (names[i - 96] ?? 0) : b)));
  });
}

const fuse: FuzzTarget = {
  name: "fuse",
  seeds: fuseSeeds,
  fixup(b) {
    if (b.length >= 4) new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(0, b.length, true);
    return b;
  },
  run(bytes) {
    try {
      decodeRequest(bytes, bytes.length);
    } catch (e) {
      if (!(e instanceof FuseDecodeError)) throw e;
    }
  },
};

// ---- config and console ------------------------------------------------------

const textDecoder = new TextDecoder("utf-8", { fatal: false });

const config: FuzzTarget = {
  name: "config",
  seeds(root) {
    const dir = join(root, "examples");
    const out: Uint8Array[] = [];
    for (const d of readdirSync(dir)) {
      try {
        out.push(readFileSync(join(dir, d, "vigil.yaml")));
      } catch {
        // not an example folder
      }
    }
    return out;
  },
  dictionary: [
    "cluster:", "nodes:", "name: ", "addresses: [", "heartbeat: {", "preset: lan", "interval: 100ms", "deadtime: ", "initdead: ", "key_file: ",
    "witness: {", "vrrp:", "  - ", "vrid: ", "priority: {", "vips: [", "advert_int: ", "modules:", "type: mirror", "type: farm", "type: failover",
    "vip: ", "replicate: [", "checkers: [", "{ tcp: 127.0.0.1:8080, on_fail: restart, then: failover }", "ports: [", "split: client_ip",
    "web:", "listen: 0.0.0.0:9010", "console:", "&a ", "*a", "<<: *a", "!!binary ", "!!str ", "? ", "|\n  ", ">-\n  ", "---\n", "...\n",
    "\"\\u0000\"", "'", "\t", "~", "null", "1e999", "0x7fffffff", "-1", "198.51.100.11", "::1", "/24", "%YAML 1.2\n", "#", "[", "]", "{", "}", ",", ":",
  ],
  run(bytes) {
    // A library warning goes straight to the operator's terminal as "(node:PID) Warning: ...": every
    // problem of a config must come back as a positioned error instead.
    const original = process.emitWarning;
    let warned: string | null = null;
    process.emitWarning = ((w: string | Error) => {
      warned = String(w);
    }) as typeof process.emitWarning;
    try {
      parseConfig(textDecoder.decode(bytes), "/fuzz/vigil.yaml");
    } finally {
      process.emitWarning = original;
    }
    if (warned !== null) throw new ContractError(`reading the config printed a process warning: ${warned}`);
  },
};

const COMMANDS = ["swap", "stop", "start", "restart", "prim", "second", "forceprim", "bogus", ""];
const CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain", "APPLICATION/JSON ;x"];

const consoleCommand: FuzzTarget = {
  name: "console-command",
  // Byte 0 picks the command, byte 1 the content type, the rest is the body.
  seeds: () => [
    utf8.encode("\x00\x00"),
    utf8.encode('\x00\x00{"yes": true, "timeout": "30s"}'),
    utf8.encode('\x06\x01{"timeout": "10m"}'),
    utf8.encode('\x01\x02{"yes": false}'),
  ],
  dictionary: ['"yes"', '"timeout"', "true", "false", "null", '"30s"', '"1ms"', '"600s"', '"1e309s"', ":", ",", "{", "}", "[", "]", '"\\u0000"', "__proto__", '"constructor"'],
  run(bytes) {
    const command = COMMANDS[(bytes[0] ?? 0) % COMMANDS.length] ?? "swap";
    const type = (bytes[1] ?? 0) % (CONTENT_TYPES.length + 1);
    const r = parseCommandRequest(command, CONTENT_TYPES[type], textDecoder.decode(bytes.subarray(2)));
    if (r.ok && !(r.timeoutMs >= 1_000 && r.timeoutMs <= 600_000)) throw new ContractError(`an accepted command has timeout ${r.timeoutMs} ms, outside 1 s..10 min`);
  },
};

export const TARGETS: readonly FuzzTarget[] = [heartbeat, witness, farmFlows, setDump, vrrp, replication, mirrorControl, handshake, fuse, config, consoleCommand];

export function targetNamed(name: string): FuzzTarget {
  const t = TARGETS.find((x) => x.name === name);
  if (t === undefined) throw new Error(`no fuzz target ${JSON.stringify(name)}; targets: ${TARGETS.map((x) => x.name).join(", ")}`);
  return t;
}
