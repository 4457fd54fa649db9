/**
 * Work over many items in slices of a few milliseconds, with a turn of the
 * event loop between them: a farm's flow memory holds up to 65536 records,
 * and going over all of them at once (building records, finding a peer's
 * flows, encoding reports) held the daemon's main thread for hundreds of
 * milliseconds on a loaded machine, close to the 300 ms kernel lease whose
 * renewal timer then ran late.
 */

/** How long one slice may run before the loop gets a turn. */
export const SLICE_MS = 3;
/** Items between two looks at the clock (a look costs more than most items). */
const CHECK_EVERY = 64;

export interface SliceOptions {
  readonly budgetMs?: number;
  /** Items between two looks at the clock; 1 for items that cost more than a look. */
  readonly checkEvery?: number;
  readonly now?: () => number;
  /** Gives the event loop a turn (setImmediate: timers and I/O run first). */
  readonly yieldTurn?: () => Promise<void>;
}

export function nextTurn(): Promise<void> {
  return new Promise<void>((ok) => setImmediate(ok));
}

/**
 * Calls `each` on every item in order, giving the event loop a turn whenever
 * a slice has run `budgetMs`; `each` returning false stops early. Returns
 * how many turns it gave.
 */
export async function forEachInSlices<T>(items: Iterable<T>, each: (item: T, index: number) => boolean | void, opts: SliceOptions = {}): Promise<number> {
  const budget = opts.budgetMs ?? SLICE_MS;
  const now = opts.now ?? performance.now.bind(performance);
  const yieldTurn = opts.yieldTurn ?? nextTurn;
  const every = opts.checkEvery ?? CHECK_EVERY;
  let turns = 0;
  let start = now();
  let i = 0;
  for (const item of items) {
    if (i > 0 && i % every === 0 && now() - start >= budget) {
      await yieldTurn();
      turns++;
      start = now();
    }
    if (each(item, i) === false) break;
    i++;
  }
  return turns;
}

/** The items `keep` accepts, in order, found in slices. */
export async function filterInSlices<T>(items: Iterable<T>, keep: (item: T) => boolean, opts: SliceOptions = {}): Promise<T[]> {
  const out: T[] = [];
  await forEachInSlices(
    items,
    (x) => {
      if (keep(x)) out.push(x);
    },
    opts,
  );
  return out;
}
