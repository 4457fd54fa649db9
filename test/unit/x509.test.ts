/** The console's self-signed certificate: our DER encoder, read back by node:crypto and by openssl. */
import { execFileSync } from "node:child_process";
import { generateKeyPairSync, X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { consoleTls, GENERATED_CERT, GENERATED_KEY } from "../../src/sys/tls/console-cert.ts";
import { oid, smallInteger, time, tlv, unsignedInteger } from "../../src/sys/tls/der.ts";
import { selfSignedCertificate } from "../../src/sys/tls/x509.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const NOW = new Date("2026-12-06T06:00:00Z");
const names = ["localhost", "vms1", "127.0.0.1", "198.51.100.11", "::1"];

describe("DER", () => {
  it("encodes lengths, integers, OIDs and times as X.690 says", () => {
    expect(hex(tlv(0x04, new Uint8Array(127)))).toMatch(/^047f/);
    expect(hex(tlv(0x04, new Uint8Array(128)))).toMatch(/^048180/);
    expect(hex(tlv(0x04, new Uint8Array(300)))).toMatch(/^0482012c/);
    expect(hex(smallInteger(2))).toBe("020102");
    expect(hex(unsignedInteger(Uint8Array.of(0x80)))).toBe("02020080");
    expect(hex(unsignedInteger(Uint8Array.of(0, 0, 5)))).toBe("020105");
    expect(hex(oid("2.5.4.3"))).toBe("0603550403");
    expect(hex(oid("1.2.840.10045.4.3.2"))).toBe("06082a8648ce3d040302");
    expect(Buffer.from(time(new Date("2049-12-31T23:59:59Z"))).toString("latin1")).toBe("\x17\x0d491231235959Z");
    expect(Buffer.from(time(new Date("2050-01-01T00:00:00Z"))).toString("latin1")).toBe("\x18\x0f20500101000000Z");
  });
});

describe("a self-signed certificate", () => {
  const made = selfSignedCertificate({ commonName: "vigil vms1 (vms-pair)", names, notBefore: new Date(NOW.getTime() - 86_400_000), notAfter: new Date("2031-12-05T06:00:00Z") });
  const cert = new X509Certificate(made.certPem);

  it("is read back by node:crypto: names, validity, its own signature, its key", () => {
    expect(cert.subject).toBe("O=vigil\nCN=vigil vms1 (vms-pair)");
    expect(cert.issuer).toBe(cert.subject);
    expect(cert.subjectAltName).toBe("DNS:localhost, DNS:vms1, IP Address:127.0.0.1, IP Address:198.51.100.11, IP Address:0:0:0:0:0:0:0:1");
    expect(cert.checkHost("vms1")).toBe("vms1");
    expect(cert.checkIP("198.51.100.11")).toBe("198.51.100.11");
    expect(cert.checkHost("evil.example")).toBeUndefined();
    expect(new Date(cert.validFrom).toISOString()).toBe("2026-12-05T06:00:00.000Z");
    expect(new Date(cert.validTo).toISOString()).toBe("2031-12-05T06:00:00.000Z");
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.fingerprint256).toBe(made.fingerprint);
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage ?? []).toContain("1.3.6.1.5.5.7.3.1");
  });

  it("does not verify with another key", () => {
    const other = generateKeyPairSync("ec", { namedCurve: "P-256" });
    expect(cert.verify(other.publicKey)).toBe(false);
  });

  it("is read by openssl, which finds v3, ecdsa-with-SHA256, the SANs and a valid self-signature", () => {
    const dir = mkdtempSync(join(tmpdir(), "vigil-x509-"));
    try {
      const file = join(dir, "c.pem");
      writeFileSync(file, made.certPem);
      const text = execFileSync("openssl", ["x509", "-in", file, "-noout", "-text"], { encoding: "utf8" });
      expect(text).toContain("Version: 3 (0x2)");
      expect(text).toContain("Signature Algorithm: ecdsa-with-SHA256");
      expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
      expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature/);
      expect(text).toMatch(/Extended Key Usage:\s+TLS Web Server Authentication/);
      expect(text).toContain("DNS:localhost, DNS:vms1, IP Address:127.0.0.1, IP Address:198.51.100.11, IP Address:0:0:0:0:0:0:0:1");
      const verified = execFileSync("openssl", ["verify", "-CAfile", file, "-attime", String(NOW.getTime() / 1000), file], { encoding: "utf8" });
      expect(verified.trim()).toBe(`${file}: OK`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("the console's certificate in the state dir", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const stateDir = () => {
    const d = mkdtempSync(join(tmpdir(), "vigil-tls-"));
    dirs.push(d);
    return d;
  };

  it("is made at first start (key mode 0600), kept after, and made anew when the names change or it nears its end", () => {
    const dir = stateDir();
    const first = consoleTls({ stateDir: dir, commonName: "vigil vms1", names, now: NOW });
    if (!first.ok) throw new Error(first.message);
    expect(first.tls.generated).toBe(true);
    expect(statSync(join(dir, GENERATED_KEY)).mode & 0o777).toBe(0o600);
    const again = consoleTls({ stateDir: dir, commonName: "vigil vms1", names, now: NOW });
    expect(again.ok && !again.tls.generated && again.tls.fingerprint === first.tls.fingerprint).toBe(true);
    const renamed = consoleTls({ stateDir: dir, commonName: "vigil vms1", names: [...names, "vms1.example.com"], now: NOW });
    expect(renamed.ok && renamed.tls.generated && renamed.tls.fingerprint !== first.tls.fingerprint).toBe(true);
    const late = consoleTls({ stateDir: dir, commonName: "vigil vms1", names: [...names, "vms1.example.com"], now: new Date("2031-11-20T00:00:00Z") });
    expect(late.ok && late.tls.generated).toBe(true);
  });

  it("takes the operator's files, and says what is wrong with them", () => {
    const dir = stateDir();
    const made = consoleTls({ stateDir: dir, commonName: "x", names, now: NOW });
    if (!made.ok) throw new Error(made.message);
    const cert = join(dir, GENERATED_CERT);
    const key = join(dir, GENERATED_KEY);
    const own = consoleTls({ stateDir: stateDir(), certFile: cert, keyFile: key, commonName: "x", names, now: NOW });
    expect(own.ok && !own.tls.selfSigned && own.tls.fingerprint === made.tls.fingerprint).toBe(true);

    const otherKey = join(dir, "other.pem");
    writeFileSync(otherKey, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }));
    expect(consoleTls({ stateDir: dir, certFile: cert, keyFile: otherKey, commonName: "x", names, now: NOW })).toEqual({ ok: false, message: `${otherKey} is not the private key of ${cert}` });
    expect(consoleTls({ stateDir: dir, certFile: key, keyFile: key, commonName: "x", names, now: NOW })).toEqual({ ok: false, message: `${key} is not a PEM certificate` });
    expect(consoleTls({ stateDir: dir, certFile: cert, keyFile: cert, commonName: "x", names, now: NOW })).toMatchObject({ ok: false, message: expect.stringContaining("is not a PEM private key") });
    expect(readFileSync(cert, "utf8")).toContain("BEGIN CERTIFICATE");
  });
});
