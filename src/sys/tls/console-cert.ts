/**
 * The console's TLS certificate: the operator's (console.cert and
 * console.key), or a self-signed one that the node makes in its state dir at
 * first start and keeps while it is valid for another 30 days and covers the
 * node's names; otherwise a new one replaces it (with a new fingerprint,
 * which the log and `vigil status` show).
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { writeFileAtomic } from "../atomic-file.ts";
import { selfSignedCertificate } from "./x509.ts";

export interface ConsoleTls {
  readonly cert: string;
  readonly key: string;
  /** SHA-256 of the certificate, "AB:CD:...". */
  readonly fingerprint: string;
  /** The files it came from. */
  readonly certFile: string;
  readonly notAfter: string;
  /** True when this start made a new self-signed certificate. */
  readonly generated: boolean;
  readonly selfSigned: boolean;
}

export type TlsResult = { ok: true; tls: ConsoleTls } | { ok: false; message: string };

const DAY = 86_400_000;
const LIFETIME = 5 * 365 * DAY;
const RENEW_BEFORE = 30 * DAY;

export const GENERATED_CERT = "console-cert.pem";
export const GENERATED_KEY = "console-key.pem";

export interface TlsRequest {
  stateDir: string;
  /** console.cert and console.key, both or neither. */
  certFile?: string | undefined;
  keyFile?: string | undefined;
  /** Shown as the certificate's name, e.g. "vigil vms1 (vms-pair)". */
  commonName: string;
  /** What a self-signed certificate must cover. */
  names: readonly string[];
  now: Date;
}

export function consoleTls(req: TlsRequest): TlsResult {
  if (req.certFile !== undefined && req.keyFile !== undefined) return fromFiles(req.certFile, req.keyFile, false, false);
  const certFile = join(req.stateDir, GENERATED_CERT);
  const keyFile = join(req.stateDir, GENERATED_KEY);
  if (existsSync(certFile) && existsSync(keyFile)) {
    const kept = fromFiles(certFile, keyFile, true, false);
    if (kept.ok && stillGood(kept.tls.cert, req)) return kept;
  }
  const made = selfSignedCertificate({
    commonName: req.commonName,
    names: req.names,
    notBefore: new Date(req.now.getTime() - DAY), // a peer whose clock is a little behind still accepts it
    notAfter: new Date(req.now.getTime() + LIFETIME),
  });
  try {
    writeFileAtomic(keyFile, made.keyPem, { mode: 0o600 });
    writeFileAtomic(certFile, made.certPem, { mode: 0o644 });
  } catch (e) {
    return { ok: false, message: `cannot write the console's certificate to ${req.stateDir}: ${(e as Error).message}` };
  }
  const written = fromFiles(certFile, keyFile, true, true);
  return written;
}

function fromFiles(certFile: string, keyFile: string, selfSigned: boolean, generated: boolean): TlsResult {
  let cert: string;
  let key: string;
  try {
    cert = readFileSync(certFile, "utf8");
    key = readFileSync(keyFile, "utf8");
  } catch (e) {
    return { ok: false, message: `cannot read the console's certificate or key: ${(e as Error).message}` };
  }
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch {
    return { ok: false, message: `${certFile} is not a PEM certificate` };
  }
  try {
    if (!x509.checkPrivateKey(createPrivateKey(key))) return { ok: false, message: `${keyFile} is not the private key of ${certFile}` };
  } catch {
    return { ok: false, message: `${keyFile} is not a PEM private key (an encrypted key is not supported)` };
  }
  return { ok: true, tls: { cert, key, fingerprint: x509.fingerprint256, certFile, notAfter: new Date(x509.validTo).toISOString(), generated, selfSigned } };
}

function stillGood(cert: string, req: TlsRequest): boolean {
  const x509 = new X509Certificate(cert);
  if (new Date(x509.validTo).getTime() - req.now.getTime() < RENEW_BEFORE) return false;
  return req.names.every((n) => (isIP(n) ? x509.checkIP(n) !== undefined : x509.checkHost(n) !== undefined));
}
