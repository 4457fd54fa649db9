/**
 * What the live-op tests on two loopback mirror drivers share: starting a
 * pair whose copies are set up by the test, the PRIM's service acting just
 * before h1 asks h2 a question, a link cut until the test reopens it, and
 * what ends in h2's conflicts folder.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect } from "vitest";
import type { MirrorDriver } from "../../src/daemon/mirror/driver.ts";
import { type DriverInsides, until } from "./mirror-driver-pair.ts";

/** Every file under `dir`, relative path -> content. */
export function tree(dir: string, under = ""): Record<string, string> {
  const out: Record<string, string> = {};
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const rel = under === "" ? e.name : `${under}/${e.name}`;
    if (e.isDirectory()) Object.assign(out, tree(join(dir, e.name), rel));
    else out[rel] = readFileSync(join(dir, e.name), "utf8");
  }
  return out;
}

/**
 * h1 and h2 attached (each round announced at once, carrying nothing) with
 * the heartbeat's adverts carried by hand every 100 ms, closed by
 * `cleanups`; resolves once both mirrors have started. Roles and the peer's
 * state are the test's to give.
 */
export async function attachBoth(h1: MirrorDriver, h2: MirrorDriver, cleanups: (() => Promise<void> | void)[]): Promise<void> {
  cleanups.push(() => h1.close(), () => h2.close());
  h1.attach({ gate: () => {}, republish: () => h2.peerAdvert(h1.core.role, h1.mark), announce: (sent) => queueMicrotask(sent) });
  h2.attach({ gate: () => {}, republish: () => h1.peerAdvert(h2.core.role, h2.mark), announce: (sent) => queueMicrotask(sent) });
  const rounds = setInterval(() => {
    h2.peerAdvert(h1.core.role, h1.mark);
    h1.peerAdvert(h2.core.role, h2.mark);
  }, 100);
  cleanups.push(() => clearInterval(rounds));
  const p1 = h1 as unknown as DriverInsides;
  const p2 = h2 as unknown as DriverInsides;
  await until(() => p1.applier !== null && p2.applier !== null, "both mirrors started");
}

/** The control questions h1 asks h2. */
export interface AsksControl {
  control(action: string, refused?: (why: string) => void): Promise<unknown>;
}

/**
 * The first time h1 asks one of `actions`, `change` runs and is waited for
 * before the question goes out. Returns that change's promise, null until
 * then.
 */
export function changeBeforeAsking(p1: AsksControl, actions: readonly string[], change: () => Promise<void>): () => Promise<void> | null {
  let calls: Promise<void> | null = null;
  const control = p1.control.bind(p1);
  p1.control = async (action, refused) => {
    if (actions.includes(action) && calls === null) {
      calls = change();
      await calls;
    }
    return control(action, refused);
  };
  return () => calls;
}

/** Waits for the change `changeBeforeAsking` made, then for h2's copy to be up to date and h1's resync over. */
export async function resyncedAfter(calls: () => Promise<void> | null, h1: MirrorDriver, h2: MirrorDriver, asking: string, done: string): Promise<void> {
  await until(() => calls() !== null, asking);
  await calls();
  await until(() => h1.core.link?.data === "uptodate" && h2.status().data === "uptodate" && !h1.core.resyncing, done);
}

/** h1's client cuts the link and reconnects only once the returned function is called. */
export function cutLinkUntilOpened(client: { drop(reason: string, pauseMs?: number): void; connectRound(): Promise<void> }): () => void {
  let open = (): void => {};
  const gate = new Promise<void>((r) => (open = r));
  const connectRound = client.connectRound.bind(client);
  client.connectRound = async () => {
    await gate;
    await connectRound();
  };
  client.drop("the test cuts the link", 50);
  return open;
}

/** h2's conflicts folder for module vms holds at most one folder, with exactly `files` in it. */
export function expectKeptAside(root: string, files: Record<string, string>): void {
  const conflicts = join(root, "h2-state", "conflicts", "vms");
  const kept = existsSync(conflicts) ? readdirSync(conflicts) : [];
  expect(kept.length <= 1, `one folder kept: ${kept.join(", ")}`).toBe(true);
  expect(kept.length === 0 ? {} : tree(join(conflicts, kept[0]!))).toEqual(files);
}
