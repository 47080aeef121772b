/**
 * Content dedup and warm start: a page identical to one the target holds goes as a COPY record, and a
 * target given an older copy of the image (`--base`) receives only the pages that differ from it.
 */
import t from 'tap';
import { randomFillSync } from 'node:crypto';
import { copyFileSync, openSync, readSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { runMigrate, scratchDir, sha256, startTarget } from '../helpers/ferry.js';

const PAGE = 4096;
const SIZE = 32 * 1024 * 1024;
const PAGES = SIZE / PAGE;

t.test('duplicate pages travel as COPY records', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'dup.ram');
  // First half random, second half the same pages again (like two copies of a library in memory).
  const half = Buffer.alloc(SIZE / 2);
  randomFillSync(half);
  const fd = openSync(image, 'w');
  writeSync(fd, half);
  writeSync(fd, half);
  closeSync(fd);
  const target = await startTarget(t, join(dir, 'target'));
  // One scan worker: COPY sources are looked up within a worker's slice of the image.
  const run = await runMigrate(t, ['--to', target.url, '--id', 'dup', '--image', `ram=${image}`, '--workers', '1']);
  t.equal(run.code, 0, `migrate commits (stderr: ${run.stderr.slice(-800)})`);
  t.equal(Number(run.summary['copyPages']), PAGES / 2, 'every page of the second half went as COPY');
  t.ok(Number(run.summary['bytesSent']) < SIZE * 0.55, `${String(run.summary['bytesSent'])} bytes sent for a ${SIZE}-byte image`);
  t.equal(await sha256(join(dir, 'target', 'dup', 'ram')), await sha256(image), 'byte-identical');
});

t.test('--base: a 90%-identical older copy means under 15% of the bytes of a cold migration', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  const base = join(dir, 'vm-yesterday.ram');
  const newer = join(dir, 'newer-content.ram');
  await fillImage(image, SIZE, { seed: 31 });
  await fillImage(newer, SIZE, { seed: 32 }); // replacement content of the same mix (text, binary, zero)
  copyFileSync(image, base);
  // Change every tenth page; some of the old contents reappear five pages earlier (moved: COPY records).
  const fd = openSync(image, 'r+');
  const fresh = openSync(newer, 'r');
  const page = Buffer.alloc(PAGE);
  let changed = 0;
  let moved = 0;
  for (let index = 0; index < PAGES; index += 10) {
    readSync(fd, page, 0, PAGE, index * PAGE);
    if (index % 100 === 0 && index >= 5 && !page.every((b) => b === 0)) {
      writeSync(fd, page, 0, PAGE, (index - 5) * PAGE);
      moved++;
    }
    readSync(fresh, page, 0, PAGE, index * PAGE);
    writeSync(fd, page, 0, PAGE, index * PAGE);
    changed++;
  }
  closeSync(fd);
  closeSync(fresh);
  t.comment(`${changed} pages changed, ${moved} pages moved, of ${PAGES}`);

  const cold = await startTarget(t, join(dir, 'cold'));
  const coldRun = await runMigrate(t, ['--to', cold.url, '--id', 'cold', '--image', `ram=${image}`, '--workers', '1']);
  t.equal(coldRun.code, 0, 'cold migration commits');
  const warm = await startTarget(t, join(dir, 'warm'), ['--base', `ram=${base}`]);
  const warmRun = await runMigrate(t, ['--to', warm.url, '--id', 'warm', '--image', `ram=${image}`, '--workers', '1']);
  t.equal(warmRun.code, 0, `warm migration commits (stderr: ${warmRun.stderr.slice(-800)})`);
  t.equal(await sha256(join(dir, 'warm', 'warm', 'ram')), await sha256(image), 'the warm result is byte-identical');
  const coldBytes = Number(coldRun.summary['bytesSent']);
  const warmBytes = Number(warmRun.summary['bytesSent']);
  t.comment(`bytes sent: cold ${coldBytes}, with --base ${warmBytes} (${((warmBytes / coldBytes) * 100).toFixed(1)}%)`);
  t.ok(warmBytes < coldBytes * 0.15, `${warmBytes} < 15% of ${coldBytes}`);
  t.ok(Number(warmRun.summary['copyPages']) >= moved, `${String(warmRun.summary['copyPages'])} COPY records cover the ${moved} moved pages`);
  t.ok(Number(warmRun.summary['pagesSent']) <= changed + moved + 64, `${String(warmRun.summary['pagesSent'])} page records for ${changed + moved} differing pages`);
});
