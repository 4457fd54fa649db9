import { onTestFinished } from "vitest";
import { sleep } from "./wait.ts";

/**
 * Samples `take()` every `everyMs` (after each answer) until stop(), which
 * resolves with every sample and its wall-clock time. Stopped at the end of
 * the test in any case.
 */
export function sampleUntilStopped<T>(take: () => Promise<T>, everyMs = 20): { stop(): Promise<(T & { at: number })[]> } {
  const samples: (T & { at: number })[] = [];
  let sampling = true;
  const loop = (async () => {
    while (sampling) {
      const at = Date.now();
      samples.push({ ...(await take()), at });
      await sleep(everyMs);
    }
  })();
  const stop = async (): Promise<(T & { at: number })[]> => {
    sampling = false;
    await loop;
    return samples;
  };
  onTestFinished(async () => void (await stop()));
  return { stop };
}
