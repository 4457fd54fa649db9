/**
 * A self-signed X.509 v3 certificate (RFC 5280) for the console: ECDSA P-256
 * with SHA-256, the node's names and addresses as subjectAltName (browsers
 * look only there), usable for TLS servers only. node:crypto makes and signs
 * with the key but has no certificate builder; this is the one.
 */
import { createHash, generateKeyPairSync, type KeyObject, randomBytes, sign } from "node:crypto";
import { isIP } from "node:net";
import { bitString, boolean, concat, explicit, octetString, oid, sequence, set, smallInteger, tlv, time, unsignedInteger, utf8String } from "./der.ts";

const OID = {
  ecdsaWithSha256: "1.2.840.10045.4.3.2",
  commonName: "2.5.4.3",
  organization: "2.5.4.10",
  subjectKeyIdentifier: "2.5.29.14",
  keyUsage: "2.5.29.15",
  subjectAltName: "2.5.29.17",
  basicConstraints: "2.5.29.19",
  extKeyUsage: "2.5.29.37",
  serverAuth: "1.3.6.1.5.5.7.3.1",
} as const;

export interface CertificateRequest {
  /** The subject's common name (shown by browsers; not used for matching). */
  commonName: string;
  /** DNS names and IPv4/IPv6 addresses the certificate is valid for. */
  names: readonly string[];
  notBefore: Date;
  notAfter: Date;
}

export interface SelfSigned {
  certPem: string;
  keyPem: string;
  /** SHA-256 of the certificate's DER, "AB:CD:..." as browsers and openssl show it. */
  fingerprint: string;
}

export function selfSignedCertificate(req: CertificateRequest, keys = generateKeyPairSync("ec", { namedCurve: "P-256" })): SelfSigned {
  const der = certificateDer(req, keys.publicKey, keys.privateKey);
  return {
    certPem: pem("CERTIFICATE", der),
    keyPem: keys.privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
    fingerprint: fingerprintOf(der),
  };
}

export function certificateDer(req: CertificateRequest, publicKey: KeyObject, privateKey: KeyObject): Uint8Array {
  if (req.names.length === 0) throw new Error("a certificate needs at least one name");
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const name = sequence(
    set(sequence(oid(OID.organization), utf8String("vigil"))),
    set(sequence(oid(OID.commonName), utf8String(req.commonName.slice(0, 64)))),
  );
  const spki = new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f; // positive, and at most 20 octets
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serial),
    algorithm,
    name,
    sequence(time(req.notBefore), time(req.notAfter)),
    name,
    spki,
    explicit(3, sequence(
      extension(OID.basicConstraints, true, sequence()), // cA: FALSE (the default, so omitted)
      extension(OID.keyUsage, true, tlv(0x03, Uint8Array.of(7, 0x80))), // digitalSignature
      extension(OID.extKeyUsage, false, sequence(oid(OID.serverAuth))),
      extension(OID.subjectKeyIdentifier, false, octetString(createHash("sha1").update(subjectPublicKey(spki)).digest())),
      extension(OID.subjectAltName, false, sequence(...req.names.map(generalName))),
    )),
  );
  const signature = sign("sha256", tbs, { key: privateKey, dsaEncoding: "der" });
  return sequence(tbs, algorithm, bitString(new Uint8Array(signature)));
}

function extension(id: string, critical: boolean, value: Uint8Array): Uint8Array {
  return critical ? sequence(oid(id), boolean(true), octetString(value)) : sequence(oid(id), octetString(value));
}

/** dNSName [2] or iPAddress [7], both IMPLICIT. */
function generalName(name: string): Uint8Array {
  const family = isIP(name);
  if (family === 4) return tlv(0x87, Uint8Array.from(name.split(".").map(Number)));
  if (family === 6) return tlv(0x87, ipv6Bytes(name));
  return tlv(0x82, new TextEncoder().encode(name));
}

function ipv6Bytes(address: string): Uint8Array {
  const [head = "", tail] = address.split("::");
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

/** The BIT STRING's bytes inside a DER SubjectPublicKeyInfo (RFC 5280 4.2.1.2, method 1 hashes these). */
function subjectPublicKey(spki: Uint8Array): Uint8Array {
  // SEQUENCE { AlgorithmIdentifier, BIT STRING }: skip the outer header and the algorithm.
  const skipHeader = (at: number): { content: number; end: number } => {
    const first = spki[at + 1] as number;
    if (first < 0x80) return { content: at + 2, end: at + 2 + first };
    const n = first & 0x7f;
    let len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (spki[at + 2 + i] as number);
    return { content: at + 2 + n, end: at + 2 + n + len };
  };
  const outer = skipHeader(0);
  const algorithm = skipHeader(outer.content);
  const bits = skipHeader(algorithm.end);
  return spki.subarray(bits.content + 1, bits.end);
}

export function fingerprintOf(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex").toUpperCase().match(/../g)!.join(":");
}

export function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${b64.join("\n")}\n-----END ${label}-----\n`;
}

export { concat };
