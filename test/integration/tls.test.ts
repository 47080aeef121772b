/**
 * TLS: `ferry target --tls-cert --tls-key` serves wss://, `ferry migrate --ca` verifies it, and with
 * `--tls-ca` the target requires a client certificate (mutual TLS). Certificates are made at test time.
 */
import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { makeCerts, type TestCerts } from '../helpers/certs.js';
import { runMigrate, scratchDir, sha256, startTarget } from '../helpers/ferry.js';

const SIZE = 8 * 1024 * 1024;

async function setup(t: Test): Promise<{ dir: string; image: string; certs: TestCerts }> {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, SIZE, { seed: 4 });
  return { dir, image, certs: makeCerts(dir) };
}

t.test('wss:// with a verified server certificate', async (t) => {
  const { dir, image, certs } = await setup(t);
  const target = await startTarget(t, join(dir, 'target'), ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey]);
  t.match(target.url, /^wss:\/\//, 'the target serves wss://');
  const run = await runMigrate(t, ['--to', target.url, '--id', 'tls', '--image', `ram=${image}`, '--ca', certs.ca]);
  t.equal(run.code, 0, `migrate over TLS commits (stderr: ${run.stderr.slice(-800)})`);
  t.equal(await sha256(join(dir, 'target', 'tls', 'ram')), await sha256(image), 'byte-identical');
});

t.test('a server certificate from an untrusted CA is refused before anything is sent', async (t) => {
  const { dir, image, certs } = await setup(t);
  const target = await startTarget(t, join(dir, 'target'), ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey]);
  const run = await runMigrate(t, ['--to', target.url, '--id', 'untrusted', '--image', `ram=${image}`, '--ca', certs.otherCa, '--reconnect-timeout', '0']);
  t.equal(run.code, 3, 'migrate rolls back');
  t.match(String((run.summary['error'] as { message?: string } | undefined)?.message), /certificate|self.signed|verify/i, 'the error names the certificate problem');
  t.notOk(existsSync(join(dir, 'target', 'untrusted')), 'nothing was created on the target');
  target.child.kill('SIGTERM');
});

t.test('mutual TLS: a client certificate is required and checked', async (t) => {
  const { dir, image, certs } = await setup(t);
  const target = await startTarget(t, join(dir, 'target'), ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-ca', certs.ca]);
  const refused = await runMigrate(t, ['--to', target.url, '--id', 'no-client-cert', '--image', `ram=${image}`, '--ca', certs.ca, '--reconnect-timeout', '0']);
  t.equal(refused.code, 3, 'without a client certificate the migration is refused and rolled back');
  t.notOk(existsSync(join(dir, 'target', 'no-client-cert')), 'nothing was created for it');
  const run = await runMigrate(t, [
    '--to', target.url, '--id', 'mtls', '--image', `ram=${image}`, '--ca', certs.ca,
    '--tls-client-cert', certs.clientCert, '--tls-client-key', certs.clientKey,
  ]);
  t.equal(run.code, 0, `with the client certificate it commits (stderr: ${run.stderr.slice(-800)})`);
  t.equal(await sha256(join(dir, 'target', 'mtls', 'ram')), await sha256(image), 'byte-identical');
});
