/**
 * A cut made with an nft table in one lab host's namespace, for as long as
 * a test wants it: lifted by the test (once its point is made) or, at the
 * latest, when the test ends, also when it fails.
 */
import { onTestFinished } from "vitest";
import type { LabNode } from "./lab.ts";

/**
 * Adds `table inet NAME { CHAINS }` in `host`'s namespace (NAME made unique
 * per run by the caller) and returns the function that deletes it; calling
 * it twice does nothing the second time.
 */
export async function nftCut(host: LabNode, name: string, chains: readonly string[]): Promise<() => Promise<void>> {
  await host.exec(["nft", "-f", "-"], { check: true, input: [`table inet ${name} {`, ...chains.map((c) => ` ${c}`), "}", ""].join("\n") });
  let lifted = false;
  const lift = async (): Promise<void> => {
    if (lifted) return;
    lifted = true;
    await host.exec(["nft", "delete", "table", "inet", name]);
  };
  onTestFinished(lift);
  return lift;
}
