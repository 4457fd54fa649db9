import { describe, expect, it } from "vitest";
import { Metrics } from "../../src/daemon/metrics.ts";

describe("Metrics series keys", () => {
  it("counts a label object passed again, and an equal one in another order, in one series", () => {
    const m = new Metrics();
    const sent = m.counter("vigil_sent_total", "Sent.");
    const link0 = { link: "0", peer: "h2" };
    for (let i = 0; i < 3; i++) sent(link0);
    sent({ peer: "h2", link: "0" });
    sent({ link: "1", peer: "h2" });
    sent();
    sent();
    expect(m.render()).toBe(
      ['# HELP vigil_sent_total Sent.', "# TYPE vigil_sent_total counter", 'vigil_sent_total{link="0",peer="h2"} 4', 'vigil_sent_total{link="1",peer="h2"} 1', "vigil_sent_total 2", ""].join("\n"),
    );
  });

  it("keeps a gauge without labels apart from one with", () => {
    const m = new Metrics();
    const g = m.gauge("vigil_g", "G.");
    g(1);
    g(2, { module: 'a"b' });
    g(3);
    expect(m.render()).toBe(['# HELP vigil_g G.', "# TYPE vigil_g gauge", "vigil_g 3", 'vigil_g{module="a\\"b"} 2', ""].join("\n"));
  });
});
