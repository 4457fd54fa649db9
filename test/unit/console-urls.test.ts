import { describe, expect, it } from "vitest";
import { reachableConsole } from "../../src/api/console-urls.ts";

describe("where the console can be opened", () => {
  it("a console on every address lists the host's addresses, loopback last, not 0.0.0.0", () => {
    expect(reachableConsole("http://0.0.0.0:9010/", ["127.0.0.1", "198.51.100.11", "203.0.113.11"])).toBe(
      "listening on all addresses, port 9010: http://198.51.100.11:9010/ http://203.0.113.11:9010/ http://127.0.0.1:9010/",
    );
    expect(reachableConsole("https://0.0.0.0:9443/", [])).toBe("listening on all addresses, port 9443");
  });

  it("a console on one address is that URL", () => {
    expect(reachableConsole("http://198.51.100.11:9010/", ["198.51.100.11"])).toBe("http://198.51.100.11:9010/");
    expect(reachableConsole("http://127.0.0.1:41234/", ["127.0.0.1"])).toBe("http://127.0.0.1:41234/");
  });
});
