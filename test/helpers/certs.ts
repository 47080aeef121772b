import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TestCerts {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** A second CA that signed nothing here: trusting it must not let the server through. */
  readonly otherCa: string;
}

const openssl = (args: string[], cwd: string): void => void execFileSync('openssl', args, { cwd, stdio: 'pipe' });

/**
 * A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl.
 * P-256 keys: generating one is instant, where an RSA key costs a noticeable share of a test's CPU.
 */
export function makeCerts(dir: string): TestCerts {
  const days = ['-days', '2'];
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  openssl(['req', '-x509', ...newKey, '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-subj', '/CN=ferry test CA', ...days], dir);
  openssl(['req', '-x509', ...newKey, '-nodes', '-keyout', 'other.key', '-out', 'other.pem', '-subj', '/CN=another CA', ...days], dir);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    openssl(['req', ...newKey, '-nodes', '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=ferry ${who}`], dir);
    openssl(['x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.pem`, '-extfile', `${who}.ext`, ...days], dir);
  }
  const at = (name: string): string => join(dir, name);
  return {
    ca: at('ca.pem'), serverCert: at('server.pem'), serverKey: at('server.key'),
    clientCert: at('client.pem'), clientKey: at('client.key'), otherCa: at('other.pem'),
  };
}
