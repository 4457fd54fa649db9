/**
 * The SECOND's copy as a ResyncPeer, over the replication link: manifests,
 * entries and block sums are requests the SECOND answers from its folder
 * (remote-peer-answers.ts); ops go through the same ordered stream as live
 * replication, under sequence numbers from the caller's one counter, so the
 * ordering contract of ResyncPeer.apply holds: `send` takes its place in the
 * stream during the call.
 *
 * When the link is down or goes down, questions reject with LinkDownError and
 * ops resolve with errno ENOTCONN: the resync stops and is resumed later.
 */
import { LINK_FEATURE } from "../core/link-features.ts";
import type { ReplicationClient, RequestHandle } from "../net/replication-link.ts";
import { REPLICATION_MAX_SUMS_BYTES, type ResyncRequest, type ResyncResponse } from "../proto/replication-resync.ts";
import type { MirrorOp, RelPath } from "./ops.ts";
import { type ApplyResult, BLOCK_SUM_BYTES, type BlockSums, type ManifestEntry, type ResyncPeer } from "./resync-types.ts";

export class LinkDownError extends Error {
  constructor(reason: string) {
    super(`the replication link is down: ${reason}`);
    this.name = "LinkDownError";
  }
}

/** The SECOND answered a question with an error (errno and its message). */
export class PeerAnswerError extends Error {
  constructor(
    readonly errno: string,
    message: string,
  ) {
    super(`the SECOND answered ${errno}: ${message}`);
    this.name = "PeerAnswerError";
  }
}

export interface RemotePeerOptions {
  /**
   * The next sequence number of the one ordered stream (shared with live
   * replication); absent: one more than the client's last (sendNext).
   */
  readonly nextSeq?: () => number;
  /**
   * How close the SECOND sets times (its applier's mtimeWindowNs: 1 in the
   * vigil binary, 2000 under Node).
   */
  readonly mtimeWindowNs?: number;
}

/** Most sums per request: what one answer may carry. */
const SUMS_PER_REQUEST = REPLICATION_MAX_SUMS_BYTES / BLOCK_SUM_BYTES;

export class RemoteResyncPeer implements ResyncPeer {
  readonly mtimeWindowNs: number;

  constructor(
    private readonly client: ReplicationClient,
    private readonly opts: RemotePeerOptions = {},
  ) {
    this.mtimeWindowNs = opts.mtimeWindowNs ?? 1;
  }

  async *manifest(under: RelPath, recursive: boolean, xattrs = true): AsyncIterable<ManifestEntry> {
    const batches: (ResyncResponse | { failure: string })[] = [];
    let wake: (() => void) | null = null;
    let finished = false;
    // Only a SECOND that agreed on it reads the flag; another one reads the xattrs, which go unused.
    const bare = !xattrs && this.client.has(LINK_FEATURE.listingWithoutXattrs);
    const question: ResyncRequest = bare ? { kind: "manifest", under, recursive, withoutXattrs: true } : { kind: "manifest", under, recursive };
    const handle: RequestHandle | null = this.client.request(question, (r, failure) => {
      if (r === null) {
        if (failure !== undefined) batches.push({ failure });
      } else {
        batches.push(r);
      }
      wake?.();
    });
    if (handle === null) throw new LinkDownError(this.client.downReason);
    try {
      for (;;) {
        while (batches.length === 0) await new Promise<void>((r) => (wake = r));
        wake = null;
        const b = batches.shift()!;
        if ("failure" in b) throw new LinkDownError(b.failure);
        if (b.kind === "end") {
          finished = true;
          return;
        }
        if (b.kind === "error") {
          finished = true;
          throw new PeerAnswerError(b.errno, b.message);
        }
        if (b.kind !== "entries") {
          finished = true;
          throw new PeerAnswerError("EPROTO", `unexpected ${b.kind} answer to a manifest request`);
        }
        // Ask for the next batch before handing this one out: one batch in flight, one being read.
        handle.next();
        yield* b.entries;
      }
    } finally {
      if (!finished) handle.cancel();
    }
  }

  async entry(path: RelPath): Promise<ManifestEntry | null> {
    const r = await this.ask({ kind: "entry", path });
    if (r.kind !== "entry") throw new PeerAnswerError("EPROTO", `unexpected ${r.kind} answer to an entry request`);
    return r.entry;
  }

  async blockSums(path: RelPath, blockSize: number, offset: number, count: number): Promise<BlockSums | null> {
    const parts: Uint8Array[] = [];
    let size = 0;
    for (let done = 0; done < count || (count === 0 && done === 0); ) {
      const n = Math.min(SUMS_PER_REQUEST, count - done);
      const r = await this.ask({ kind: "sums", path, blockSize, offset: offset + done * blockSize, count: n });
      if (r.kind !== "sums") throw new PeerAnswerError("EPROTO", `unexpected ${r.kind} answer to a sums request`);
      if (r.sums === null) return null;
      size = r.sums.size;
      parts.push(r.sums.sums);
      done += n;
      // The file ended before the blocks asked for: no need to ask further.
      if (r.sums.sums.length < n * BLOCK_SUM_BYTES || count === 0) break;
    }
    const sums = new Uint8Array(parts.reduce((k, p) => k + p.length, 0));
    let at = 0;
    for (const p of parts) {
      sums.set(p, at);
      at += p.length;
    }
    return { size, blockSize, offset, sums };
  }

  async apply(op: MirrorOp): Promise<ApplyResult> {
    const out = await (this.opts.nextSeq === undefined ? this.client.sendNext(op) : this.client.send(this.opts.nextSeq(), op));
    if (out.delivered) return out.result;
    return { ok: false, errno: "ENOTCONN", message: `not applied on the SECOND${out.maybeApplied ? " (or maybe applied)" : ""}: ${out.reason}` };
  }

  /** One question, one answer (an "error" answer rejects). */
  private ask(q: ResyncRequest): Promise<ResyncResponse> {
    return new Promise((resolve, reject) => {
      let answered = false;
      const handle = this.client.request(q, (r, failure) => {
        if (answered) return;
        answered = true;
        if (r === null) reject(new LinkDownError(failure ?? "the request ended without an answer"));
        else if (r.kind === "error") reject(new PeerAnswerError(r.errno, r.message));
        else resolve(r);
      });
      if (handle === null) reject(new LinkDownError(this.client.downReason));
    });
  }
}
