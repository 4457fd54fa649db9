/**
 * The heartbeat transport on Bun's native UDP socket, the one the vigil
 * binary uses: the checks run under Bun in a child (fixtures/udp-bun-probe.ts,
 * loopback only), this file asserts on what it printed. The same transport
 * on node:dgram is udp-transport.test.ts.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { dgramBackend } from "../../src/net/udp-socket-dgram.ts";
import { defaultUdpBackend } from "../../src/net/udp-transport.ts";
import { BUN, runBunProbe, probePath, type ProbeLine } from "./bun-probe.ts";

const canUnshareNet = process.getuid?.() === 0 && spawnSync("unshare", ["-n", "true"]).status === 0;

describe("UDP transport on Bun's native socket", () => {
  const seen = runBunProbe("udp-bun-probe.ts");

  it("is the backend the transport picks on Bun (node:dgram on Node)", () => {
    expect(seen.get("backend")?.["name"]).toBe("bun");
    expect(defaultUdpBackend()).toBe(dgramBackend);
    expect(seen.has("done")).toBe(true);
  });

  it("a link with two peers: a connected socket each, both sent to and heard, a stranger kept out by the kernel", () => {
    const p = seen.get("peers");
    expect(p?.["aHeard"]).toEqual([7]);
    expect(p?.["bHeard"]).toEqual([7]);
    expect(p?.["got"]).toEqual([
      { link: 0, bytes: [2], from: { address: "127.0.0.3", port: p?.["aPort"] } },
      { link: 0, bytes: [3], from: { address: "127.0.0.4", port: p?.["bPort"] } },
    ]);
    expect(p?.["strangers"]).toEqual([]);
  });

  it("reads what the kernel holds for the sockets at once, before the runtime does, handing each datagram over once", () => {
    const r = seen.get("read-queued");
    expect(r?.["emptyRead"]).toBe(0);
    expect(r?.["read"]).toBe(3);
    expect(r?.["gotAtOnce"]).toBe(3);
    expect(r?.["got"]).toEqual([1, 2, 3].map((b) => ({ link: 0, bytes: [b], from: { address: "127.0.0.3", port: r?.["senderPort"] } })));
  });

  it("asks for the large receive buffer and tells what the kernel gave", () => {
    const p = seen.get("peers");
    expect(p?.["buffer"]).toBeGreaterThanOrEqual(Math.min(Number(p?.["asked"]), 200_000));
  });

  it("a port in use and an address not on this host are bind errors naming link, address and cause", () => {
    expect(seen.get("in-use")?.["second"]).toMatch(/^TransportBindError EADDRINUSE: heartbeat link 0: cannot bind to 127\.0\.0\.1:\d+: EADDRINUSE/);
    expect(seen.get("not-here")?.["r"]).toMatch(/^TransportBindError EADDRNOTAVAIL: heartbeat link 2: cannot bind to 203\.0\.113\.77:\d+: EADDRNOTAVAIL/);
  });

  it("a datagram the kernel refuses is reported through onError for each target, never thrown", () => {
    const t = seen.get("too-big");
    expect(t?.["threw"]).toBe(false);
    expect(t?.["errors"]).toEqual([
      expect.stringMatching(/^0 EMSGSIZE heartbeat link 0: send to 127\.0\.0\.3:\d+ failed: /),
      expect.stringMatching(/^0 EMSGSIZE heartbeat link 0: send to 127\.0\.0\.4:\d+ failed: /),
    ]);
  });

  it("broadcast mode: hears another socket's broadcast, never its own", () => {
    const b = seen.get("broadcast");
    expect(b?.["got"]).toEqual([{ link: 1, bytes: [2], from: { address: "127.0.0.1", port: b?.["otherPort"] } }]);
  });

  // In a fresh network namespace holding only its loopback (it vanishes with the child).
  it.skipIf(!canUnshareNet)("a peer with no route at start (its link down) does not stop the link: the other peer is heard and sent to, sends to it fail through onError", () => {
    const r = spawnSync("unshare", ["-n", "sh", "-c", `ip link set lo up && exec "$0" "$1" no-route`, BUN, probePath("udp-bun-probe.ts")], { encoding: "utf8", timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l) as ProbeLine);
    expect(lines.find((l) => l.check === "no-route")).toEqual({ check: "no-route", opened: true, got: [6], errors: ["0 ENETUNREACH", "1 ENETUNREACH"], aHeard: [4] });
  });

  it("close frees the port", () => {
    expect(seen.get("closed")?.["again"]).toBe("opened");
  });
});
