import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Pki {
  caCert: string;
  serverCert: string;
  serverKey: string;
  client(cn: string): { cert: string; key: string };
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: 'pipe' });
}

/**
 * A private CA with a server certificate for 127.0.0.1 and client certificates on demand, made
 * with the openssl command (as a platform operator would), for TLS and mTLS tests.
 */
export function makePki(dir: string): Pki {
  const p = (f: string): string => join(dir, f);
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=lectern test CA', '-keyout', p('ca.key'), '-out', p('ca.pem')], dir);
  writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-keyout', p('server.key'), '-out', p('server.csr')], dir);
  openssl(['x509', '-req', '-in', p('server.csr'), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', p('server.ext'), '-out', p('server.pem')], dir);
  return {
    caCert: p('ca.pem'),
    serverCert: p('server.pem'),
    serverKey: p('server.key'),
    client(cn: string) {
      writeFileSync(p(`${cn}.ext`), 'extendedKeyUsage=clientAuth\n');
      openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', p(`${cn}.key`), '-out', p(`${cn}.csr`)], dir);
      openssl(['x509', '-req', '-in', p(`${cn}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', p(`${cn}.ext`), '-out', p(`${cn}.pem`)], dir);
      return { cert: p(`${cn}.pem`), key: p(`${cn}.key`) };
    },
  };
}
