import { expect, it } from "vitest";
import { parseBuildInfo, versionLine } from "../../src/version.ts";

it("names the build of a compiled binary: target, CPU level, libc and runtime", () => {
  const x64 = parseBuildInfo('{"target":"linux-x64","arch":"x64","libc":"glibc","baseline":true}');
  expect(versionLine(x64, "bun 1.4.5", "linux-x64")).toBe("vigil 0.1.0 (build linux-x64: x86-64 baseline, no AVX2 needed, glibc; bun 1.4.5)");
  const arm = parseBuildInfo('{"target":"linux-arm64-musl","arch":"arm64","libc":"musl","baseline":false}');
  expect(versionLine(arm, "bun 1.4.5", "linux-arm64")).toBe("vigil 0.1.0 (build linux-arm64-musl: arm64, musl; bun 1.4.5)");
  const host = parseBuildInfo('{"target":"host-linux-x64","arch":"x64","libc":"glibc","baseline":false}');
  expect(versionLine(host, "bun 1.4.5", "linux-x64")).toBe("vigil 0.1.0 (build host-linux-x64: x86-64, glibc; bun 1.4.5)");
});

it("says when vigil runs from source, and treats a malformed build mark as none", () => {
  expect(versionLine(undefined, "node 20.20.2", "linux-x64")).toBe("vigil 0.1.0 (from source: node 20.20.2, linux-x64)");
  for (const bad of ["", "{", "null", "[]", '{"target":"x"}', '{"target":"x","arch":"x64","libc":"glibc","baseline":"yes"}']) {
    expect(parseBuildInfo(bad)).toBeUndefined();
  }
});
