/**
 * When a node may add a bucket to its set: never while a live peer may hold it
 * or may be about to take it. Peers promise (see FarmAdvert) that they hold
 * only buckets they own under the view they advertise, and they advertise a
 * view before adding under it. So a live peer is no obstacle when
 *
 * - it advertises our view, and did so knowing our current advert (its echo
 *   of our heartbeats is not older than our last advert change): under one
 *   view each bucket has one owner, us, and the peer cannot be on its way to
 *   another view built from an older advert of ours; or
 * - its view is ours plus nodes that said goodbye (stopped cleanly), and
 *   under its view the bucket belonged to one of them: the peer does not
 *   hold it, and once it hears the goodbye it has our view and our owner.
 *   This lets a stopping node's buckets be taken at once, without waiting
 *   for every survivor to hear it go;
 * - its view is ours, not yet acknowledged, and the bucket is a dead node's
 *   (its owner with the dead nodes counted in): the peer saw the same deaths,
 *   and under any view it could move to from there the bucket is not its
 *   own unless it also thinks us dead.
 *
 * - it says it stopped, and it said so knowing we serve (its echo is not
 *   older than our last turn to "in"): it emptied its set before it said so,
 *   and knowing we serve, it will not take a bucket before we have heard it
 *   say "in" and answered with a view that holds it (the first rule, seen
 *   from its side). This lets a stopping node's buckets be taken the moment
 *   its advert arrives. Without the echo condition, two nodes that both
 *   restart could each see the other as stopped and both take.
 *
 * A node that fell silent (not by goodbye) has its buckets taken only once
 * every peer we hear has left it out of its view (deaths.ts): a peer that
 * still counts it may hear it, and then it still serves them. The second
 * rule took them at once for any dead node, not waiting for every survivor
 * to notice; on a verdict of ours alone (a loss in one direction) it took a
 * live node's buckets and flows beside it, and a node back from a cut that
 * heard one peer before another took the unheard one's (sim). A goodbye is
 * the node's own word.
 *
 * Both rules for a gone node's buckets hold only on an advert the peer wrote
 * knowing we serve (its echo is not older than our last turn to "in"). One
 * written before may predate our "wait" (a lapse, a restart of the farm):
 * hearing it, the peer moved to a view without us and may have taken every
 * bucket, the gone node's too, while we, back in, took them on its older
 * advert.
 *
 * A node counts as dead for the third rule only if we saw it die while we
 * heard others: one still dead when we hear a peer again after hearing none
 * (FarmPeer.deadWhileAlone) may only have been cut off from us by our own
 * isolation.
 *
 * A member of our view that we do not hear (dead for us, kept in the view
 * because a peer we hear hears it: deaths.ts aliveThrough) blocks
 * everything: we cannot see its advert, so cannot know it let go of a
 * bucket or which view it holds under. Kept out of the view it would let
 * us take its buckets beside it; kept in without blocking, a node back
 * from a cut would take its buckets while that member still held them under
 * a view without us (sim: a healed node that hears one peer late).
 *
 * A peer not heard from yet blocks everything. So a bucket that moves between
 * live nodes leaves the old owner before the new one takes it. Two nodes can
 * both add a bucket only while their views disagree about a node other than
 * the dead one (a partition), which no rule can prevent.
 */
import { hasMember } from "./members.ts";
import { ownerOf, type OwnershipTable } from "./ownership.ts";
import type { FarmPeer, Members } from "./types.ts";

export function mayTake(
  t: OwnershipTable,
  bucket: number,
  self: number,
  view: Members,
  peers: readonly FarmPeer[],
  advertisedAt: number,
  inSince: number,
): boolean {
  for (let p = 0; p < peers.length; p++) {
    if (p === self) continue;
    const peer = peers[p];
    // A member we do not hear (see the header).
    if (peer !== undefined && peer.live !== "up" && hasMember(view, p)) return false;
    if (peer === undefined || peer.live !== "up") continue;
    const adv = peer.advert;
    if (adv === undefined) return false;
    const echo = peer.echo ?? -Infinity;
    if (adv.role === "stopped" && echo >= inSince) continue;
    if (adv.view === view) {
      if (echo >= advertisedAt) continue;
      // The gone-node rules only on an advert written knowing we serve (see the header).
      if (echo < inSince) return false;
      const before = ownerOf(t, bucket, (view | deadSet(peers)) >>> 0);
      if (before >= 0 && before !== self && knownDead(peers[before])) continue;
      return false;
    }
    if ((view & ~adv.view) !== 0 || echo < inSince) return false;
    const extra = (adv.view & ~view) >>> 0;
    if (extra === 0 || !allSaidGoodbye(extra, peers)) return false;
    const prev = ownerOf(t, bucket, adv.view);
    if (prev >= 0 && ((extra >>> prev) & 1) === 1) continue;
    return false;
  }
  return true;
}

function allSaidGoodbye(set: Members, peers: readonly FarmPeer[]): boolean {
  for (let i = 0; i < peers.length; i++) {
    if (((set >>> i) & 1) === 1 && !(peers[i]?.live === "dead" && peers[i]?.stopped === true)) return false;
  }
  return true;
}

/** Dead, and seen dying while we heard others (see the header). */
function knownDead(p: FarmPeer | undefined): boolean {
  return p?.live === "dead" && p.deadWhileAlone !== true;
}

function deadSet(peers: readonly FarmPeer[]): Members {
  let set = 0;
  for (let i = 0; i < peers.length; i++) if (knownDead(peers[i])) set = (set | (1 << i)) >>> 0;
  return set;
}
