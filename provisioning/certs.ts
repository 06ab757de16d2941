/**
 * The TLS files of the platform settings: each certificate parses, is valid now and for a while
 * yet, and the device certificate belongs to its key. Read with node:crypto, no openssl needed.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { PlatformConfig } from '../agent/config/schema.js';
import { errorMessage } from '../agent/errors.js';
import { fail, pass, warn, type StepOutcome } from './steps.js';

const DAY_MS = 86_400_000;

/** The certificates in a PEM file (a CA file may hold a chain). */
function readCertificates(path: string): X509Certificate[] {
  const text = readFileSync(path, 'utf8');
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (!blocks.length) throw new Error('no PEM certificate in the file');
  return blocks.map((b) => new X509Certificate(b));
}

function subjectCn(c: X509Certificate): string {
  return /CN=([^\n,]+)/.exec(c.subject)?.[1] ?? c.subject.replace(/\n/g, ', ');
}

/** One outcome per certificate file (the CA file and the device certificate), none without TLS files. */
export function checkCertificates(p: PlatformConfig, opts: { now?: Date; warnDays?: number } = {}): StepOutcome[] {
  const now = (opts.now ?? new Date()).getTime();
  const warnDays = opts.warnDays ?? 30;
  const outcomes: StepOutcome[] = [];
  const files: [string, string | undefined][] = [
    ['platform CA (platform.caFile)', p.caFile],
    ['device certificate (platform.certFile)', p.certFile],
  ];
  for (const [what, path] of files) {
    if (!path) continue;
    let certs: X509Certificate[];
    try {
      certs = readCertificates(path);
    } catch (e) {
      outcomes.push(fail('certificate-invalid', `${what} ${path}: ${errorMessage(e)}`, `replace ${path} with the PEM file the platform issued`));
      continue;
    }
    const c = certs[0]!;
    const from = new Date(c.validFrom).getTime();
    const to = new Date(c.validTo).getTime();
    const name = `${what} "${subjectCn(c)}"`;
    const data = { file: path, subject: c.subject, issuer: c.issuer, validFrom: c.validFrom, validTo: c.validTo };
    if (now < from) {
      outcomes.push(fail('certificate-expired', `${name} is not valid until ${c.validFrom}`, 'check the clock (timedatectl); if it is right, ask the platform for a certificate valid now', data));
      continue;
    }
    if (now > to) {
      outcomes.push(fail('certificate-expired', `${name} expired on ${c.validTo}`, `ask the platform for a new certificate and replace ${path}`, data));
      continue;
    }
    if (path === p.certFile && p.keyFile) {
      try {
        if (!c.checkPrivateKey(createPrivateKey(readFileSync(p.keyFile)))) {
          outcomes.push(fail('certificate-key-mismatch', `${name} does not belong to the key ${p.keyFile}`, 'install the key that was made with this certificate (or the certificate issued for this key)', data));
          continue;
        }
      } catch (e) {
        outcomes.push(fail('certificate-invalid', `device key ${p.keyFile}: ${errorMessage(e)}`, `replace ${p.keyFile} with the device's PEM private key`, data));
        continue;
      }
    }
    const daysLeft = Math.floor((to - now) / DAY_MS);
    if (daysLeft < warnDays) {
      outcomes.push(warn(`${name} expires in ${daysLeft} day${daysLeft === 1 ? '' : 's'} (${c.validTo})`, 'ask the platform for a renewed certificate before it expires', data));
      continue;
    }
    outcomes.push(pass(`${name} valid until ${c.validTo} (${daysLeft} days)`, data));
  }
  return outcomes;
}
