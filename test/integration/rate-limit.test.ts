/**
 * --rate-limit is a ceiling: an incompressible image sent with --compress never, measured from the
 * source's own pass record, never goes faster than the token bucket allows (the bucket's burst of 50 ms
 * of rate is the only credit), and the target gets every byte. How close to the limit the transfer comes
 * depends on the machine's load; `npm run bench:timing` measures that. Each side's account of where the
 * pass went (the source's `stages`, the target's "pass applied" log) fits inside the pass and names the
 * rate limit's wait.
 */
import t from 'tap';
import { randomFillSync } from 'node:crypto';
import { openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { runMigrate, scratchDir, sha256, startTarget } from '../helpers/ferry.js';

const RATE = 4_000_000;
const SIZE = 16 * 1024 * 1024; // ~4.2 s at 4 MB/s
const BURST = Math.max(RATE * 0.05, 64 * 1024);

t.test('--rate-limit 4MB/s is never exceeded', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'random.ram');
  const fd = openSync(image, 'w');
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < SIZE / chunk.length; i++) writeSync(fd, randomFillSync(chunk));
  closeSync(fd);
  const target = await startTarget(t, join(dir, 'target'), ['--log-level', 'info']);
  const run = await runMigrate(t, ['--to', target.url, '--id', 'rate', '--image', `ram=${image}`, '--rate-limit', '4MB/s', '--compress', 'never']);
  t.equal(run.code, 0, `migrate commits (stderr: ${run.stderr.slice(-800)})`);
  const pass0 = run.events.find((e) => e['event'] === 'pass-end' && e['pass'] === 0);
  const bytes = Number(pass0?.['bytesSent']);
  const durationMs = Number(pass0?.['durationMs']);
  const rate = (bytes * 1000) / durationMs;
  t.comment(`pass 0: ${bytes} bytes in ${Math.round(durationMs)} ms = ${(rate / 1e6).toFixed(3)} MB/s (limit 4 MB/s)`);
  t.ok(bytes >= SIZE, 'pass 0 sent the whole image');
  // The bucket starts empty and holds at most BURST; PASS_BEGIN is not throttled (a few bytes).
  const ceiling = (RATE * durationMs) / 1000 + BURST + 1024;
  t.ok(bytes <= ceiling, `${bytes} bytes in ${Math.round(durationMs)} ms: at most ${Math.round(ceiling)} at 4 MB/s plus the burst`);
  // Far below the limit means a wrong unit (bits for bytes) or a stalled sender, not load.
  t.ok(rate >= RATE / 4, `${(rate / 1e6).toFixed(3)} MB/s is at least a quarter of the limit`);
  t.equal(await sha256(join(dir, 'target', 'rate', 'ram')), await sha256(image), 'byte-identical');
  const stages = pass0?.['stages'] as Record<string, number>;
  const waited = stages.scanWaitMs! + stages.packMs! + stages.rateWaitMs! + stages.sendMs! + stages.drainWaitMs!;
  t.ok(stages.batches! >= SIZE / (1024 * 1024), `${stages.batches} batches of at most 1 MiB carried 16 MiB`);
  t.ok(stages.rateWaitMs! > 0, 'the bucket starts empty: the rate limit is waited for');
  t.ok(waited <= durationMs + 1, `the stages (${waited} ms) fit in the pass (${durationMs} ms)`);
  await target.exited;
  const applied = target.stderr().split('\n').filter((line) => line.includes('"pass applied"')).map((line) => JSON.parse(line) as { pass: number; stages: Record<string, number> });
  const target0 = applied.find((line) => line.pass === 0)?.stages;
  t.ok(target0 && target0['messages']! >= stages.batches!, 'the target logs pass 0 with every PAGES message');
  t.ok(target0 && target0['decodeMs']! + target0['writeMs']! + target0['hashMs']! <= target0['handleMs']!, 'decode, write and hash are part of the handling');
});
