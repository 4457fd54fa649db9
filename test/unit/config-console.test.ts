/** The console: section of vigil.yaml: its defaults and every mistake named with file:line:col. */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatConfigError } from "../../src/config/errors.ts";
import { loadConfigFile, parseConfig } from "../../src/config/load.ts";
import { selfSignedCertificate } from "../../src/sys/tls/x509.ts";
import { fileText, problems } from "./config-text.ts";

const HASH = "$scrypt$ln=15,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const BASE = ["cluster:", "  name: lab", "  nodes: [{ name: solo, addresses: [127.0.0.1] }]"];
const errors = (lines: string[]): string[] => problems(fileText(...BASE, ...lines));

describe("console: in vigil.yaml", () => {
  it("defaults to TLS, no users (the first-start admin), 8 h logins and no API token", () => {
    const r = parseConfig([...BASE, ""].join("\n"), "/etc/vigil/vigil.yaml");
    expect(r.ok && r.config.console).toEqual({ users: [], tls: true, names: [], session_timeout: 8 * 3_600_000, api_token: false });
  });

  it("takes users with hashes, names, a timeout, and resolves cert and key against the file's folder", () => {
    const r = parseConfig([...BASE, "console:", "  users:", `    - { name: alice, role: admin, password: "${HASH}" }`, "  cert: tls/c.pem", "  key: tls/k.pem",
      "  names: [vms1.example.com]", "  session_timeout: 30m", "  api_token: true", ""].join("\n"), "/etc/vigil/vigil.yaml");
    expect(r.ok && r.config.console).toEqual({
      users: [{ name: "alice", role: "admin", password: HASH }], tls: true, cert: "/etc/vigil/tls/c.pem", key: "/etc/vigil/tls/k.pem",
      names: ["vms1.example.com"], session_timeout: 1_800_000, api_token: true,
    });
  });

  it("names an unknown role, a plaintext password (not shown), a repeated user, an unknown key", () => {
    expect(errors(["console:", "  users:", "    - { name: alice, role: root, password: s3cret-Passw0rd }", `    - { name: alice, role: viewer, password: "${HASH}" }`, "  colour: blue"])).toEqual([
      "vigil.yaml:6:28: console.users[0].role: found \"root\", expected one of viewer, operator, admin",
      "vigil.yaml:6:44: console.users[0].password: found a plaintext password (not shown), expected a scrypt hash made by `vigil passwd`, like $scrypt$ln=15,r=8,p=1$SALT$HASH",
      "vigil.yaml:7:15: console.users[1].name: found \"alice\" again (also console.users[0]), expected one entry per user name",
      'vigil.yaml:8:3: console.colour: found unknown key "colour", expected one of users, tls, cert, key, names, session_timeout, api_token',
    ]);
  });

  it("wants cert and key together, and not with tls: false", () => {
    expect(errors(["console:", "  cert: c.pem"])).toEqual(["vigil.yaml:5:3: console.cert: found no console.key beside it, expected cert and key together (or neither, for a self-signed certificate)"]);
    expect(errors(["console:", "  tls: false", "  cert: c.pem", "  key: k.pem"])).toEqual(["vigil.yaml:5:8: console.tls: found false, with cert and key given, expected true when a certificate is given (or remove cert and key)"]);
  });

  it("checks at load that cert and key exist, parse and belong together", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-console-files-"));
    try {
      const now = Date.now();
      const made = selfSignedCertificate({ commonName: "t", names: ["127.0.0.1"], notBefore: new Date(now), notAfter: new Date(now + 86_400_000) });
      writeFileSync(join(dir, "c.pem"), made.certPem);
      writeFileSync(join(dir, "k.pem"), made.keyPem);
      writeFileSync(join(dir, "other.pem"), generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }));
      const file = join(dir, "vigil.yaml");
      const load = (cert: string, key: string) => {
        writeFileSync(file, [...BASE, "console:", `  cert: ${cert}`, `  key: ${key}`, ""].join("\n"));
        const r = loadConfigFile(file);
        return r.ok ? "ok" : r.errors.map(formatConfigError).join("\n");
      };
      expect(load("c.pem", "k.pem")).toBe("ok");
      expect(load("missing.pem", "k.pem")).toBe(`${file}:5:9: console.cert: found ${join(dir, "missing.pem")}: no such file, expected a readable PEM certificate file`);
      expect(load("k.pem", "k.pem")).toBe(`${file}:5:9: console.cert: found ${join(dir, "k.pem")}, which is not a PEM certificate, expected a PEM certificate file (-----BEGIN CERTIFICATE-----)`);
      expect(load("c.pem", "c.pem")).toBe(`${file}:6:8: console.key: found ${join(dir, "c.pem")}, which is not a PEM private key (or is encrypted), expected an unencrypted PEM private key file`);
      expect(load("c.pem", "other.pem")).toBe(`${file}:6:8: console.key: found ${join(dir, "other.pem")}, which is not the private key of ${join(dir, "c.pem")}, expected the private key that belongs to console.cert`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
