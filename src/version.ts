/** Kept equal to package.json's version; a unit test checks it. */
export const VERSION = "0.1.0";

/** Which binary this is, as scripts/build.mjs compiled it. */
export interface BuildInfo {
  /** The name of the dist file: linux-x64, linux-arm64, linux-x64-musl, ... */
  target: string;
  arch: string;
  libc: string;
  /** An x86-64 runtime built without AVX2 (for Atom, Celeron, older Xeons). */
  baseline: boolean;
}

// Replaced by a JSON string literal when scripts/build.mjs compiles the binary
// (bun build --define); absent when vigil runs from source.
declare const VIGIL_BUILD: string | undefined;

/** The build of this binary, or undefined when vigil runs from source (node, deno, bun src/main.ts). */
export function buildInfo(): BuildInfo | undefined {
  return parseBuildInfo(typeof VIGIL_BUILD === "string" ? VIGIL_BUILD : undefined);
}

export function parseBuildInfo(text: string | undefined): BuildInfo | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o["target"] !== "string" || typeof o["arch"] !== "string" || typeof o["libc"] !== "string" || typeof o["baseline"] !== "boolean") {
    return undefined;
  }
  return { target: o["target"], arch: o["arch"], libc: o["libc"], baseline: o["baseline"] };
}

/** The one line `vigil version` prints. `runtime` is e.g. "bun 1.4.5"; platform e.g. "linux-x64". */
export function versionLine(info: BuildInfo | undefined, runtime: string, platform: string): string {
  if (info === undefined) return `vigil ${VERSION} (from source: ${runtime}, ${platform})`;
  const cpu = info.arch === "x64" ? (info.baseline ? "x86-64 baseline, no AVX2 needed" : "x86-64") : info.arch;
  return `vigil ${VERSION} (build ${info.target}: ${cpu}, ${info.libc}; ${runtime})`;
}
