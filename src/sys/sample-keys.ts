/**
 * Keys that everyone has: the sample key files shipped in examples/. A node
 * that signs its heartbeats with one of them is open to anyone who read the
 * repository, so `vigil run` refuses them outside the single-machine demo.
 * test/unit/keyfile.test.ts checks that every examples/<name>/vigil.key is listed.
 */
import { createHash } from "node:crypto";

/** SHA-256 of each published sample key file's bytes. */
const PUBLISHED_SAMPLE_KEYS: ReadonlySet<string> = new Set([
  "c012a6690eaf5d0b8cf3d5231e95a82ae3181cb40d62a8688d4b5ad542de195e", // examples/demo, examples/vip-failover
  "a7f3572e77552d7321491a3efa5e873228b283b02f8a3e83ea4740da155a2907", // examples/farm
  "c2e0c507509aace62bf0b04d95285bbdb2d15b2138e69f07acc9692e011a4ce6", // examples/mirror
  "1aa729a2e3c29062b81d30bf277daea799aea0b3b459c3c845d39919d2ca5be4", // examples/service-failover
]);

export function keyFingerprint(key: Uint8Array): string {
  return createHash("sha256").update(key).digest("hex");
}

export function isPublishedSampleKey(key: Uint8Array): boolean {
  return PUBLISHED_SAMPLE_KEYS.has(keyFingerprint(key));
}

/** The message for a sample key: what is wrong and how to make a key of one's own. */
export function sampleKeyMessage(file: string): string {
  return `key file ${file} is a published sample key (it ships with vigil's examples, so anyone can sign heartbeats and commands with it); make a key of your own with \`vigil keygen ${file} --force\` and copy it to every node`;
}
