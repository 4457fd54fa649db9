import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { configAjv, VALIDATOR_FILE, validatorSource } from "../../scripts/config-validator.ts";
import { configSchema } from "../../src/config/schema.ts";
import { validate as generated } from "../../src/config/schema-validator.generated.ts";

type Validate = ((data: unknown) => boolean) & { errors?: unknown[] | null };

const EXAMPLES = join(import.meta.dirname, "..", "..", "examples");

const examples = (): unknown[] =>
  readdirSync(EXAMPLES).map((d) => parse(readFileSync(join(EXAMPLES, d, "vigil.yaml"), "utf8")) as unknown);

const cluster = { name: "lab", nodes: [{ name: "a", addresses: ["198.51.100.1"] }, { name: "b", addresses: ["198.51.100.2"] }] };
const vrrp = (extra: Record<string, unknown>) => ({
  cluster,
  vrrp: [{ name: "VI_1", interface: "eth0", vrid: 51, priority: { a: 150, b: 100 }, vips: ["198.51.100.100/24"], ...extra }],
});

/** Configs that break the schema in each way it can be broken: every keyword, format and branch kind. */
const BAD: unknown[] = [
  {},
  [],
  "text",
  { cluster, colour: "blue" },
  { cluster: { ...cluster, heartbeat: { intervall: "200ms", deadtime: 500, interval: "fast-ish" } } },
  { cluster: { name: "lab", nodes: [{ name: "-a", addresses: ["198.51.100.256", "010.1.1.1", "1.2.3.4/24"] }, { addresses: [] }] } },
  { cluster: { ...cluster, witness: { ping: ["x"] } }, web: { listen: "0.0.0.0" } },
  vrrp({ vrid: 256, interface: "-eth0;id", vips: ["198.51.100.100"], authentication: { auth_type: "AH", auth_pass: "" } }),
  vrrp({ authentication: { auth_type: "PASS", auth_pass: "123456789" } }),
  // Eight characters in sixteen UTF-16 units: within the 8-character limit.
  vrrp({ authentication: { auth_type: "PASS", auth_pass: "\u{1F600}".repeat(8) } }),
  vrrp({ authentication: { auth_type: "PASS", auth_pass: "\u{1F600}".repeat(9) } }),
  vrrp({ track: [{ process: "" }, { script: 3 }, { bogus: 1 }] }),
  { cluster, modules: [{ name: "m" }, { name: "n", type: "cluster" }, { name: "o", type: "mirror", replicate: ["rel/path"], exclude: [""] }] },
  { cluster, modules: [{ name: "w", type: "farm", vip: "198.51.100.200/33", ports: [80, 80, 0], split: "round-robin" }] },
  {
    cluster,
    modules: [{
      name: "f", type: "failover", ports: [80],
      checkers: [{ tcp: "127.0.0.1:0" }, { http: "ftp://x" }, { kind: 1 }, { file: "/x", contains: "" }, { systemd: "bad unit" }],
    }],
  },
  { cluster, console: { users: [{ name: "admin", role: "root", password: "x" }], tls: "yes" } },
];

/** The errors of a validator, parentSchema compared by identity (it must point into configSchema). */
function errorsOf(v: Validate, data: unknown): unknown[] {
  const ok = v(data);
  return ok ? [] : (v.errors ?? []).map((e) => ({ ...(e as object) }));
}

describe("the config validator generated ahead of time", () => {
  it("is the code of the current schema (regenerate: node_modules/.bin/bun scripts/config-validator.ts)", () => {
    expect(readFileSync(VALIDATOR_FILE, "utf8") === validatorSource()).toBe(true);
  });

  it("finds the same errors, in the same order, as ajv compiling the schema at run time", () => {
    const compiled = configAjv().compile(configSchema) as Validate;
    const cases = [...examples(), ...BAD];
    let failing = 0;
    for (const data of cases) {
      const expected = errorsOf(compiled, data);
      const found = errorsOf(generated as Validate, data);
      expect(found).toEqual(expected);
      if (expected.length > 0) failing++;
    }
    // The cases must exercise errors, or the comparison proves nothing.
    expect(failing).toBeGreaterThanOrEqual(BAD.length - 1);
  });

  it("counts a string's length in characters, not UTF-16 units", () => {
    const len = (pass: string) => errorsOf(generated as Validate, vrrp({ authentication: { auth_type: "PASS", auth_pass: pass } })).length;
    expect(len("\u{1F600}".repeat(8))).toBe(0);
    expect(len("\u{1F600}".repeat(9))).toBeGreaterThan(0);
  });

  it("points its errors at configSchema's own nodes", () => {
    const errors = errorsOf(generated as Validate, { cluster, colour: "blue" }) as { parentSchema?: unknown }[];
    expect(errors[0]?.parentSchema).toBe(configSchema);
  });
});
