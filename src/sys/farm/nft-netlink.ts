/**
 * The farm's set updates as nf_tables netlink messages, sent straight to the
 * kernel through an AF_NETLINK socket (bun:ffi), without starting nft: one
 * batch is one transaction, as `nft -f` makes it. Measured beside nft in
 * bench/farm-nft-timing.ts.
 *
 * Layout (linux/netlink.h, linux/netfilter/nfnetlink.h, nf_tables.h):
 * nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid } (host order),
 * then nfgenmsg { u8 family; u8 version; be16 res_id }, then attributes
 * { u16 len; u16 type; payload padded to 4 }. A batch is BATCH_BEGIN, the
 * messages, BATCH_END; the kernel applies all of it or none and answers
 * every message asked to (NLM_F_ACK) with an NLMSG_ERROR holding 0 or -errno.
 * The daemon's writes and lease renewals go this way where it can open the
 * socket (the Bun binary, as root), else through nft (table.ts).
 */
import { type Libc, loadLibc } from "../ffi/libc.ts";
import { decodeSetDumpChunk, SetDumpError, type SetElement, setDumpRequest } from "./nft-set-dump.ts";
import { NLM_F_REQUEST, NLM_F_ACK, NLM_F_CREATE, NLMSG_ERROR } from "../netlink-message.ts";
import {
  NFNL_MSG_BATCH_BEGIN,
  NFNL_MSG_BATCH_END,
  NFNL_SUBSYS_NFTABLES,
  NFT_MSG_NEWSETELEM,
  NFT_MSG_DELSETELEM,
  NFPROTO_INET,
  NLA_F_NESTED,
  NFTA_SET_ELEM_LIST_TABLE,
  NFTA_SET_ELEM_LIST_SET,
  NFTA_SET_ELEM_LIST_ELEMENTS,
  NFTA_LIST_ELEM,
  NFTA_SET_ELEM_KEY,
  NFTA_SET_ELEM_DATA,
  NFTA_SET_ELEM_TIMEOUT,
  NFTA_DATA_VALUE,
} from "./nf-tables-abi.ts";


/**
 * One set operation of a batch: flush (no elements), add, or delete
 * elements. Maps (sets with data) take the same operations; an add to a map
 * gives `data`, one value per key.
 */
export type SetOp =
  | { readonly op: "flush"; readonly set: string }
  | {
      readonly op: "add" | "delete";
      readonly set: string;
      readonly keys: readonly Uint8Array[];
      readonly timeoutMs?: number;
      readonly data?: readonly Uint8Array[];
    };

function pad4(n: number): number {
  return (n + 3) & ~3;
}

function attr(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(pad4(4 + payload.length));
  const v = new DataView(out.buffer);
  v.setUint16(0, 4 + payload.length, true);
  v.setUint16(2, type, true);
  out.set(payload, 4);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function nested(type: number, parts: readonly Uint8Array[]): Uint8Array {
  return attr(type | NLA_F_NESTED, concat(parts));
}

function cstring(s: string): Uint8Array {
  return concat([new TextEncoder().encode(s), new Uint8Array(1)]);
}

function be64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

function message(type: number, flags: number, seq: number, family: number, resId: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + 4 + body.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, out.length, true);
  v.setUint16(4, type, true);
  v.setUint16(6, flags, true);
  v.setUint32(8, seq, true);
  v.setUint32(12, 0, true);
  out[16] = family;
  out[17] = 0;
  v.setUint16(18, resId);
  out.set(body, 20);
  return out;
}

/** A `type mark` key: the mark in host byte order (little-endian hosts). */
export function markKey(mark: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, mark >>> 0, true);
  return b;
}

/** A `type ipv4_addr` key: network byte order. */
export function ipv4Key(addr: string): Uint8Array {
  return Uint8Array.from(addr.split(".").map(Number));
}

/** The batch for `ops` on table `inet <table>`, sequence numbers from `seq`; ACK asked on every operation. */
export function setBatch(table: string, ops: readonly SetOp[], seq: number): Uint8Array {
  const parts: Uint8Array[] = [message(NFNL_MSG_BATCH_BEGIN, NLM_F_REQUEST, seq, 0, NFNL_SUBSYS_NFTABLES, new Uint8Array(0))];
  ops.forEach((o, i) => {
    const head = [attr(NFTA_SET_ELEM_LIST_TABLE, cstring(table)), attr(NFTA_SET_ELEM_LIST_SET, cstring(o.set))];
    let type = NFT_MSG_DELSETELEM;
    let flags = NLM_F_REQUEST | NLM_F_ACK;
    let body = concat(head);
    if (o.op !== "flush") {
      if (o.data !== undefined && o.data.length !== o.keys.length) throw new RangeError(`set ${o.set}: ${o.keys.length} keys but ${o.data.length} values`);
      const elems = o.keys.map((k, i) => {
        const value = o.op === "add" ? o.data?.[i] : undefined;
        return nested(NFTA_LIST_ELEM, [
          nested(NFTA_SET_ELEM_KEY, [attr(NFTA_DATA_VALUE, k)]),
          ...(o.op === "add" && o.timeoutMs !== undefined ? [attr(NFTA_SET_ELEM_TIMEOUT, be64(o.timeoutMs))] : []),
          ...(value === undefined ? [] : [nested(NFTA_SET_ELEM_DATA, [attr(NFTA_DATA_VALUE, value)])]),
        ]);
      });
      body = concat([...head, nested(NFTA_SET_ELEM_LIST_ELEMENTS, elems)]);
      if (o.op === "add") {
        type = NFT_MSG_NEWSETELEM;
        flags |= NLM_F_CREATE;
      }
    }
    parts.push(message((NFNL_SUBSYS_NFTABLES << 8) | type, flags, seq + 1 + i, NFPROTO_INET, 0, body));
  });
  parts.push(message(NFNL_MSG_BATCH_END, NLM_F_REQUEST, seq + 1 + ops.length, 0, NFNL_SUBSYS_NFTABLES, new Uint8Array(0)));
  return concat(parts);
}

/** The errors (negative errno) in the kernel's answers, by sequence number; an empty map means all acknowledged. */
export function parseAcks(bytes: Uint8Array): Map<number, number> {
  const out = new Map<number, number>();
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + 16 <= bytes.length) {
    const len = v.getUint32(at, true);
    if (len < 16 || at + len > bytes.length) break;
    if (v.getUint16(at + 4, true) === NLMSG_ERROR && len >= 20) {
      const err = v.getInt32(at + 16, true);
      if (err !== 0) out.set(v.getUint32(at + 8, true), err);
    }
    at += pad4(len);
  }
  return out;
}

/**
 * The same transaction as farmUpdateRuleset (ruleset.ts): the lease renewed
 * (only if it still runs, or re-armed with `rearm`), then both sets replaced.
 */
export function farmUpdateOps(vip: string, held: readonly number[], arpOwner: boolean, leaseMs: number, rearm = false): SetOp[] {
  const lease = ipv4Key(vip);
  return [
    rearm ? { op: "flush", set: "lease" } : { op: "delete", set: "lease", keys: [lease] },
    { op: "add", set: "lease", keys: [lease], timeoutMs: leaseMs },
    { op: "flush", set: "mine" },
    ...(held.length > 0 ? [{ op: "add" as const, set: "mine", keys: held.map(markKey) }] : []),
    { op: "flush", set: "arp_owner" },
    ...(arpOwner ? [{ op: "add" as const, set: "arp_owner", keys: [lease] }] : []),
  ];
}

/** The same transaction as farmFlowsRuleset (ruleset.ts): the flow owners per bucket and the live peers. */
export function farmFlowOps(owners: readonly [number, number][], live: readonly number[], forget: boolean): SetOp[] {
  return [
    ...(forget ? [{ op: "flush" as const, set: "flows" }] : []),
    { op: "flush", set: "owner" },
    ...(owners.length > 0 ? [{ op: "add" as const, set: "owner", keys: owners.map(([b]) => markKey(b)), data: owners.map(([, o]) => markKey(o)) }] : []),
    { op: "flush", set: "live" },
    ...(live.length > 0 ? [{ op: "add" as const, set: "live", keys: live.map(markKey) }] : []),
  ];
}

/** The lease renewal alone (farmRenewRuleset's lines): fails with ENOENT on op 0 once the lease lapsed. */
export function farmRenewOps(vip: string, leaseMs: number): SetOp[] {
  const lease = ipv4Key(vip);
  return [
    { op: "delete", set: "lease", keys: [lease] },
    { op: "add", set: "lease", keys: [lease], timeoutMs: leaseMs },
  ];
}

/** The transaction's outcome: errno 0, or the first error and the index of the operation that failed. */
export interface NetlinkOutcome {
  readonly errno: number;
  readonly op: number;
}

/** A set's elements, or why they could not be read (a kernel refusal, bytes that do not decode, a dump cut short). */
export type SetDump = { readonly ok: true; readonly elements: SetElement[] } | { readonly ok: false; readonly error: SetDumpError };

/** Dumps interrupted by a transaction on the set (NLM_F_DUMP_INTR) are read again, this many times in all. */
const DUMP_TRIES = 3;

export interface NftNetlink {
  /** Applies the operations as one transaction. */
  apply(table: string, ops: readonly SetOp[]): NetlinkOutcome;
  /**
   * Every element of set `set` in table `inet <table>` (nft-set-dump.ts).
   * Give dumps a socket of their own: a transaction's acknowledgements read
   * while a dump runs would take its datagrams.
   */
  dump(table: string, set: string): Promise<SetDump>;
  close(): void;
}

/** Opens an nf_tables netlink socket (root or CAP_NET_ADMIN; Bun only). */
export async function openNftNetlink(): Promise<NftNetlink> {
  const AF_NETLINK = 16;
  const SOCK_RAW = 3;
  const SOCK_CLOEXEC = 0o2000000;
  const NETLINK_NETFILTER = 12;
  const MSG_DONTWAIT = 0x40;
  const libc: Libc = await loadLibc("nf_tables over netlink");
  const fd = libc.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  const local = new Uint8Array(12);
  new DataView(local.buffer).setUint16(0, AF_NETLINK, true);
  libc.bind(fd, local);
  const kernel = Uint8Array.from(local);
  const buf = new Uint8Array(65536);
  let seq = 1;
  let dumping: Promise<void> = Promise.resolve();
  /**
   * One datagram of the dump per turn of the event loop: the kernel walks the
   * set from its start for each datagram (a dump of 65536 elements took a
   * second of system time in all), and timers such as the lease renewals must
   * run between them.
   */
  const dumpOnce = async (table: string, set: string): Promise<SetDump> => {
    let last = new SetDumpError("truncated", "no dump read", 0);
    for (let tries = 0; tries < DUMP_TRIES; tries++) {
      const mySeq = seq++;
      libc.sendto(fd, setDumpRequest(table, set, mySeq), 0, kernel);
      const elements: SetElement[] = [];
      let interrupted = false;
      let done = false;
      while (!done) {
        // The kernel fills the first datagram while sendto runs, and each next one
        // while recvfrom hands over the previous: none has to be waited for.
        const n = Number(libc.symbols.recvfrom(fd, buf, buf.length, MSG_DONTWAIT, null, null));
        if (n <= 0) {
          last = new SetDumpError("truncated", `the dump of set ${set} ended without its end message after ${elements.length} elements`, 0);
          break;
        }
        // The receive (the kernel's walk to this datagram, up to 12 ms at 65536 elements on a loaded
        // machine) and the decoding (as long again) each get a turn of their own; buf waits untouched.
        await new Promise<void>((ok) => setImmediate(ok));
        const r = decodeSetDumpChunk(buf.subarray(0, n), mySeq);
        if (!r.ok) {
          // The rest of this dump is worthless: drop it, so the next request starts clean.
          while (Number(libc.symbols.recvfrom(fd, buf, buf.length, MSG_DONTWAIT, null, null)) > 0);
          return { ok: false, error: r.error };
        }
        for (const e of r.chunk.elements) elements.push(e);
        interrupted ||= r.chunk.interrupted;
        done = r.chunk.done;
        if (!done) await new Promise<void>((ok) => setImmediate(ok));
      }
      if (done && !interrupted) return { ok: true, elements };
      if (done) last = new SetDumpError("truncated", `the dump of set ${set} was interrupted by changes ${DUMP_TRIES} times`, 0);
    }
    return { ok: false, error: last };
  };
  return {
    apply(table, ops) {
      const batch = setBatch(table, ops, seq);
      const first = seq;
      seq += ops.length + 2;
      libc.sendto(fd, batch, 0, kernel);
      // nfnetlink handles a batch while sendto runs: the answers are queued by now.
      let errno = 0;
      let failed = -1;
      for (let answered = 0; answered < ops.length; ) {
        const n = Number(libc.symbols.recvfrom(fd, buf, buf.length, MSG_DONTWAIT, null, null));
        if (n <= 0) break;
        const v = new DataView(buf.buffer, 0, n);
        for (let at = 0; at + 16 <= n; ) {
          const len = v.getUint32(at, true);
          if (len < 16) break;
          if (v.getUint16(at + 4, true) === NLMSG_ERROR) answered++;
          at += pad4(len);
        }
        const errors = parseAcks(buf.subarray(0, n));
        for (const [s, e] of errors) {
          if (s > first && errno === 0) {
            errno = -e;
            failed = s - first - 1;
          }
        }
      }
      return { errno, op: failed };
    },
    async dump(table, set) {
      // One dump at a time on this socket: their datagrams would mix.
      const turn = dumping.then(() => dumpOnce(table, set));
      dumping = turn.then(
        () => undefined,
        () => undefined,
      );
      return turn;
    },
    close() {
      libc.close(fd);
    },
  };
}
