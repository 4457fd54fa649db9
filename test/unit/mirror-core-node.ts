/**
 * One node's mirror core for unit tests (src/core/mirror/mirror.ts), its
 * persisted record kept as a disk would: a restart or crash keeps only the
 * disk, as the daemon's state dir does. A full disk (`full`) fails every
 * persist, and the node tells its core as the driver does: nothing after
 * the failed persist is carried out.
 */
import { expect } from "vitest";
import type { CopyRecord } from "../../src/core/mirror/copy.ts";
import { initMirror, stepMirror } from "../../src/core/mirror/mirror.ts";
import { copyOnDisk } from "../../src/core/mirror/unsaved.ts";
import type { MirrorAction, MirrorInput, MirrorState, PeerCopy } from "../../src/core/mirror/types.ts";

export const coreTimers = { detachGraceMs: 700, resyncRetryMs: 5000 };

export class MirrorCoreNode {
  s: MirrorState;
  disk: CopyRecord | null;
  log: MirrorAction[] = [];
  /** Every persist fails (a full state dir) while set. */
  full = false;
  /**
   * "announce-alone" is answered at once, as a driver with a running
   * heartbeat does once its round left; false: left unanswered (the round
   * not sent yet), for the tests of alone-announce.ts.
   */
  announces = true;
  /** `files`: whether this node's folders held files at its start; null: not told (the previous release). */
  constructor(
    readonly name: string,
    readonly peer: string,
    disk: CopyRecord | null,
    readonly prefer: string | null = null,
    readonly files: boolean | null = null,
  ) {
    this.disk = disk;
    this.s = initMirror(this.init(), 0).state;
    this.boot(0);
  }
  private init() {
    return { module: "vms", self: this.name, peer: this.peer, timers: coreTimers, copy: this.disk, boot: "boot-1", prefer: this.prefer, holdsFiles: this.files };
  }
  private boot(now: number): void {
    const r = initMirror(this.init(), now);
    this.s = r.state;
    this.apply(r.actions, now);
  }
  /** Carries the actions out; returns those of the announcement's answer (a driver's next step). */
  private apply(actions: readonly MirrorAction[], now: number): readonly MirrorAction[] {
    let saved = false;
    let failed = false;
    let announce = false;
    for (const a of actions) {
      this.log.push(a);
      if (a.type === "announce-alone") announce = this.announces;
      if (a.type !== "persist") continue;
      if (this.full) {
        this.step({ type: "persist-failed", detail: "state dir /state full (ENOSPC)", saved: this.disk }, now);
        failed = true;
        break;
      }
      this.disk = a.copy;
      saved = true;
    }
    if (!failed && saved && this.s.unsaved !== null) this.step({ type: "persisted" }, now);
    return announce ? this.step({ type: "alone-announced" }, now) : [];
  }
  /** The step's actions, then those of the announcement's answer when it asked for one (announces). */
  step(ev: MirrorInput, now: number): readonly MirrorAction[] {
    const r = stepMirror(this.s, ev, now);
    this.s = r.state;
    return [...r.actions, ...this.apply(r.actions, now)];
  }
  /** A restart (or a crash): only the disk survives. */
  restart(now = 0): void {
    this.log = [];
    this.boot(now);
  }
  /** What the driver's hello tells the peer about this copy. */
  wire(): PeerCopy {
    // Rule 8: an unsaved record is not told; the one on disk is.
    const c = this.s.unsaved === null ? this.s.copy : copyOnDisk(this.s.unsaved);
    const told = c.gen === "0:" && this.files !== null ? { holdsFiles: this.files } : {};
    return { gen: c.gen, history: c.history, data: c.data, running: this.s.role === "PRIM" || this.s.role === "ALONE", unclean: this.s.unclean, ...told };
  }
}

/** Both nodes compare copies over the link, as the driver's hello does. */
export function connectCores(a: MirrorCoreNode, b: MirrorCoreNode, now: number): void {
  const ca = a.wire();
  const cb = b.wire();
  a.step({ type: "link-up", peer: cb, gap: false }, now);
  b.step({ type: "link-up", peer: ca, gap: false }, now);
}

/** Two fresh nodes, compared, A PRIM and B SECOND in sync after their first sync. */
export function inSyncCorePair(): { a: MirrorCoreNode; b: MirrorCoreNode } {
  const a = new MirrorCoreNode("a", "b", null);
  const b = new MirrorCoreNode("b", "a", null);
  a.step({ type: "peer", liveness: "up" }, 1);
  b.step({ type: "peer", liveness: "up" }, 1);
  connectCores(a, b, 2);
  a.step({ type: "role", role: "PRIM" }, 3);
  b.step({ type: "role", role: "SECOND" }, 3);
  // First sync of two never-synced copies: a full compare, then B takes A's gen.
  expect(a.log.find((x) => x.type === "resync")).toMatchObject({ mode: "full" });
  b.step({ type: "resync-incoming" }, 4);
  b.step({ type: "resync-complete", gen: a.s.copy.gen, history: a.s.copy.history }, 5);
  a.step({ type: "resync-done" }, 5);
  expect(a.s.copy.gen).toBe(b.s.copy.gen);
  expect(a.s.writes).toBe("replicate");
  expect(b.s.mark).toBe("u");
  return { a, b };
}
