/**
 * What a module advert's generation number says.
 *
 * - Claims use even numbers. A node taking the module uses 2 more than the
 *   highest claim it has heard of, so the newest takeover has the highest
 *   generation and wins a conflict (two PRIM after a partition heals).
 * - A resting node advertises the highest claim it has heard of, and every
 *   node adopts the claim part of every advert it hears, so all nodes soon
 *   agree on it.
 * - An odd number is a takeover request (operator `prim` on a SECOND): one
 *   above the highest claim the requester knows. The running node hands
 *   over to it, and the others let it go first. Keeping the request in the
 *   lowest bit means no node can mistake a mere difference in what it has
 *   heard for a request.
 */

/** The claim generation a number carries (a request carries the claim below it). */
export function claimPart(generation: number): number {
  return generation - (generation % 2);
}

export function isRequest(generation: number): boolean {
  return generation % 2 === 1;
}

/** The generation of a new claim, above every claim and request known. */
export function nextClaim(known: number): number {
  return claimPart(known) + 2;
}

/** The generation of a takeover request above every claim known. */
export function requestAbove(known: number): number {
  return claimPart(known) + 1;
}
