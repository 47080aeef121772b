/**
 * --rate-limit holds within 5% over a 10 s transfer: an incompressible image sent with --compress never,
 * rate measured from the source's own pass record and checked against the target's received bytes.
 */
import t from 'tap';
import { randomFillSync } from 'node:crypto';
import { openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { runMigrate, scratchDir, sha256, startTarget } from '../helpers/ferry.js';

const RATE = 4_000_000;
const SIZE = 40 * 1024 * 1024; // ~10.5 s at 4 MB/s

t.test('--rate-limit 4MB/s holds within 5% over ~10 s', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'random.ram');
  const fd = openSync(image, 'w');
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < SIZE / chunk.length; i++) writeSync(fd, randomFillSync(chunk));
  closeSync(fd);
  const target = await startTarget(t, join(dir, 'target'));
  const started = performance.now();
  const run = await runMigrate(t, ['--to', target.url, '--id', 'rate', '--image', `ram=${image}`, '--rate-limit', '4MB/s', '--compress', 'never']);
  const wallMs = performance.now() - started;
  t.equal(run.code, 0, `migrate commits (stderr: ${run.stderr.slice(-800)})`);
  const pass0 = run.events.find((e) => e['event'] === 'pass-end' && e['pass'] === 0);
  const rate = (Number(pass0?.['bytesSent']) * 1000) / Number(pass0?.['durationMs']);
  t.comment(`pass 0: ${Number(pass0?.['bytesSent'])} bytes in ${Math.round(Number(pass0?.['durationMs']))} ms = ${(rate / 1e6).toFixed(3)} MB/s (limit 4 MB/s); whole run ${Math.round(wallMs)} ms`);
  t.ok(Number(pass0?.['durationMs']) >= 9500, 'the transfer lasted about 10 s');
  t.ok(Math.abs(rate - RATE) / RATE <= 0.05, `measured ${(rate / 1e6).toFixed(3)} MB/s is within 5% of 4 MB/s`);
  t.equal(await sha256(join(dir, 'target', 'rate', 'ram')), await sha256(image), 'byte-identical');
});
