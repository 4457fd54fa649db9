/**
 * One node's mirror core for unit tests (src/core/mirror/mirror.ts), its
 * persisted record kept as a disk would: a restart or crash keeps only the
 * disk, as the daemon's state dir does.
 */
import type { CopyRecord } from "../../src/core/mirror/copy.ts";
import { initMirror, stepMirror } from "../../src/core/mirror/mirror.ts";
import type { MirrorAction, MirrorInput, MirrorState, PeerCopy } from "../../src/core/mirror/types.ts";

export const coreTimers = { detachGraceMs: 700, resyncRetryMs: 5000 };

export class MirrorCoreNode {
  s: MirrorState;
  disk: CopyRecord | null;
  log: MirrorAction[] = [];
  /** `files`: whether this node's folders held files at its start; null: not told (the previous release). */
  constructor(
    readonly name: string,
    readonly peer: string,
    disk: CopyRecord | null,
    readonly prefer: string | null = null,
    readonly files: boolean | null = null,
  ) {
    this.disk = disk;
    this.s = this.boot(0);
  }
  private boot(now: number): MirrorState {
    const r = initMirror({ module: "vms", self: this.name, peer: this.peer, timers: coreTimers, copy: this.disk, boot: "boot-1", prefer: this.prefer, holdsFiles: this.files }, now);
    this.apply(r.actions);
    return r.state;
  }
  private apply(actions: readonly MirrorAction[]): void {
    for (const a of actions) if (a.type === "persist") this.disk = a.copy;
    this.log.push(...actions);
  }
  step(ev: MirrorInput, now: number): readonly MirrorAction[] {
    const r = stepMirror(this.s, ev, now);
    this.s = r.state;
    this.apply(r.actions);
    return r.actions;
  }
  /** A restart (or a crash): only the disk survives. */
  restart(now = 0): void {
    this.log = [];
    this.s = this.boot(now);
  }
  /** What the driver's hello tells the peer about this copy. */
  wire(): PeerCopy {
    const told = this.s.copy.gen === "0:" && this.files !== null ? { holdsFiles: this.files } : {};
    return { gen: this.s.copy.gen, history: this.s.copy.history, data: this.s.copy.data, running: this.s.role === "PRIM" || this.s.role === "ALONE", unclean: this.s.unclean, ...told };
  }
}
