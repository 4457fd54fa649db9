/**
 * The simulated network: a set of links (think: one switch each), every
 * node attached to every link. Each direction of each node pair on each link
 * has a profile (loss, delay range, duplication) and can be cut.
 *
 * Faults are decided when a message is sent: a partition that starts while
 * a message is in flight does not eat it (it already left the switch).
 */
import type { Prng } from "./prng.ts";

export interface LinkProfile {
  /** Probability a message is lost, 0..1. */
  readonly loss: number;
  /** Delay range in whole milliseconds, inclusive; a wide range reorders. */
  readonly delayMs: readonly [number, number];
  /** Probability a delivered message is delivered a second time (with its own delay). */
  readonly duplicate: number;
}

export const perfectLink: LinkProfile = { loss: 0, delayMs: [1, 1], duplicate: 0 };

function checkProfile(p: LinkProfile): void {
  const [lo, hi] = p.delayMs;
  if (!(p.loss >= 0 && p.loss <= 1) || !(p.duplicate >= 0 && p.duplicate <= 1)) {
    throw new RangeError(`link profile: loss and duplicate must be in 0..1, got ${p.loss} and ${p.duplicate}`);
  }
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi < lo) {
    throw new RangeError(`link profile: delayMs must be whole milliseconds [min, max] with 0 <= min <= max, got [${lo}, ${hi}]`);
  }
}

export class SimNetwork {
  readonly linkCount: number;
  private readonly defaults: LinkProfile[];
  private readonly overrides = new Map<string, LinkProfile>();
  private readonly cuts = new Set<string>();

  constructor(linkCount: number, profile: LinkProfile | readonly LinkProfile[]) {
    if (!Number.isInteger(linkCount) || linkCount < 1) throw new RangeError(`a network needs at least one link, got ${linkCount}`);
    this.linkCount = linkCount;
    const list = Array.isArray(profile) ? profile : Array.from({ length: linkCount }, () => profile as LinkProfile);
    if (list.length !== linkCount) throw new RangeError(`${list.length} link profiles for ${linkCount} links`);
    list.forEach(checkProfile);
    this.defaults = [...list];
  }

  private checkLink(link: number): void {
    if (!Number.isInteger(link) || link < 0 || link >= this.linkCount) {
      throw new RangeError(`link ${link} does not exist; links are 0..${this.linkCount - 1}`);
    }
  }

  private static key(link: number, from: string, to: string): string {
    return `${link}\u0000${from}\u0000${to}`;
  }

  /** Sets the profile of a link, or of one direction of one pair on it. */
  setProfile(link: number, profile: LinkProfile, pair?: { from: string; to: string }): void {
    this.checkLink(link);
    checkProfile(profile);
    if (pair === undefined) this.defaults[link] = profile;
    else this.overrides.set(SimNetwork.key(link, pair.from, pair.to), profile);
  }

  profile(link: number, from: string, to: string): LinkProfile {
    this.checkLink(link);
    return this.overrides.get(SimNetwork.key(link, from, to)) ?? (this.defaults[link] as LinkProfile);
  }

  /** Cuts both directions between every node of `a` and every node of `b` on the given links (all by default). */
  cut(a: readonly string[], b: readonly string[], links?: readonly number[]): void {
    for (const link of links ?? this.allLinks()) {
      this.checkLink(link);
      for (const x of a) {
        for (const y of b) {
          if (x === y) continue;
          this.cuts.add(SimNetwork.key(link, x, y));
          this.cuts.add(SimNetwork.key(link, y, x));
        }
      }
    }
  }

  /** Splits the nodes into groups that cannot talk to each other on the given links (all by default). */
  partition(groups: readonly (readonly string[])[], links?: readonly number[]): void {
    groups.forEach((g, i) => groups.slice(i + 1).forEach((h) => this.cut(g, h, links)));
  }

  /** Removes every cut on the given links (all by default). */
  heal(links?: readonly number[]): void {
    const healed = new Set(links ?? this.allLinks());
    for (const k of [...this.cuts]) {
      if (healed.has(Number(k.split("\u0000")[0]))) this.cuts.delete(k);
    }
  }

  isCut(link: number, from: string, to: string): boolean {
    return this.cuts.has(SimNetwork.key(link, from, to));
  }

  /**
   * What happens to one message: the delays after which copies arrive.
   * [] = lost or cut, one entry = delivered, two = delivered and duplicated.
   */
  route(link: number, from: string, to: string, rng: Prng): { delays: number[]; dropped: "cut" | "loss" | null } {
    if (this.isCut(link, from, to)) return { delays: [], dropped: "cut" };
    const p = this.profile(link, from, to);
    if (rng.chance(p.loss)) return { delays: [], dropped: "loss" };
    const delays = [rng.int(p.delayMs[0], p.delayMs[1])];
    if (rng.chance(p.duplicate)) delays.push(rng.int(p.delayMs[0], p.delayMs[1]));
    return { delays, dropped: null };
  }

  private allLinks(): number[] {
    return Array.from({ length: this.linkCount }, (_, i) => i);
  }
}
