import t, { type Test } from 'tap';
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fillImage, PROFILES, startWorkload, type ProfileName } from '@ferry/workload';
import { BURST_MS, capacity, draw, startBucket, type Bucket, type PacingConfig } from '../../packages/workload/src/pacing.js';
import { buildCorpus } from '../../packages/workload/src/content.js';
import { Rng } from '../../packages/workload/src/prng.js';
import { scratchDir } from '../helpers/ferry.js';
import { until } from '../helpers/wait.js';
import { createPlanner } from '../../packages/workload/src/profiles.js';

const PAGE = 4096;
const MiB = 1024 * 1024;

const scratch = (t: Test): string => scratchDir(t, 'ferry-workload-');

function pages(bytes: Buffer): Buffer[] {
  return Array.from({ length: bytes.length / PAGE }, (_, i) => bytes.subarray(i * PAGE, (i + 1) * PAGE));
}

const isZero = (page: Buffer): boolean => page.every((b) => b === 0);
const isText = (page: Buffer): boolean => page.every((b) => b === 0x0a || (b >= 0x20 && b < 0x7f));

function differingBytes(a: Buffer, b: Buffer): number {
  let n = 0;
  for (let i = 0; i < a.length; i += 1) if (a[i] !== b[i]) n += 1;
  return n;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

t.test('fillImage is deterministic for a seed', async (t) => {
  const dir = scratch(t);
  const [a, b, c] = ['a', 'b', 'c'].map((name) => join(dir, name)) as [string, string, string];
  t.same(await fillImage(a, 8 * MiB, { seed: 5 }), await fillImage(b, 8 * MiB, { seed: 5 }), 'same stats');
  t.ok(readFileSync(a).equals(readFileSync(b)), 'same bytes for the same seed');
  await fillImage(c, 8 * MiB, { seed: 6 });
  t.notOk(readFileSync(a).equals(readFileSync(c)), 'other bytes for another seed');
});

t.test('fillImage counts match the content and zero pages are holes', async (t) => {
  const image = join(scratch(t), 'vm.ram');
  const size = 64 * MiB;
  const stats = await fillImage(image, size, { seed: 7 });
  const all = pages(readFileSync(image));
  const zero = all.filter(isZero).length;
  const text = all.filter((p) => !isZero(p) && isText(p)).length;
  t.equal(stats.pageCount, size / PAGE);
  t.equal(stats.zeroPages, zero, 'zeroPages exact');
  t.equal(stats.textPages, text, 'textPages exact');
  t.equal(stats.randomPages, all.length - zero - text, 'randomPages exact');
  t.ok(zero / all.length > 0.28 && zero / all.length < 0.52, `${zero} zero pages, about 40%`);
  t.ok(text / all.length > 0.25 && text / all.length < 0.45, `${text} text pages, about 35%`);
  const { blocks } = statSync(image);
  const nonZeroBytes = (stats.pageCount - stats.zeroPages) * PAGE;
  t.ok(blocks * 512 <= nonZeroBytes + MiB, `sparse: ${blocks * 512} bytes allocated for ${nonZeroBytes} non-zero bytes`);
  t.equal(statSync(image).size, size, 'exact size');
});

t.test('fillImage truncates an existing file and rejects odd geometry', async (t) => {
  const image = join(scratch(t), 'vm.ram');
  await fillImage(image, 16 * MiB, { seed: 1 });
  await fillImage(image, 4 * MiB, { seed: 1 });
  t.equal(statSync(image).size, 4 * MiB);
  await t.rejects(fillImage(image, 1000), RangeError);
  await t.rejects(fillImage(image, 8192, { pageSize: 3000 }), RangeError);
});

const CONFIG: PacingConfig = { ratePerSec: 2048, burstMs: 50 };

function simulate(config: PacingConfig, steps: number[]): { units: number; bucket: Bucket } {
  let now = 0;
  let bucket = startBucket(now, config);
  let units = 0;
  for (const step of steps) {
    now += step;
    const drawn = draw(bucket, now, config);
    bucket = drawn.bucket;
    units += drawn.units;
  }
  return { units, bucket };
}

t.test('pacing: the long-run rate equals the configured rate, even with jittery ticks', async (t) => {
  const steady = simulate(CONFIG, Array.from({ length: 1000 }, () => 10)).units;
  t.ok(Math.abs(steady - 20_480) <= 2, `${steady} units in 10 s at 2048/s`);
  const rng = new Rng(3);
  const jitter = Array.from({ length: 500 }, () => rng.between(5, 35));
  const total = jitter.reduce((a, b) => a + b, 0);
  const jittery = simulate(CONFIG, jitter).units;
  t.ok(Math.abs(jittery - (total / 1000) * 2048) <= 3, `${jittery} units with ticks of 5-35 ms`);
  const slow = simulate({ ratePerSec: 0.5, burstMs: 50 }, Array.from({ length: 1000 }, () => 10)).units;
  t.ok(slow >= 5 && slow <= 6, `${slow} units in 10 s at 0.5/s: low rates still write`);
});

t.test('pacing: a long pause (SIGSTOP) earns at most the burst', async (t) => {
  const cap = capacity(CONFIG);
  t.equal(cap, 102.4, '50 ms worth');
  const { bucket } = simulate(CONFIG, [10, 10]);
  const after = draw(bucket, bucket.atMs + 60_000, CONFIG);
  t.ok(after.units <= Math.ceil(cap), `${after.units} units after a 60 s pause, not ${60 * 2048}`);
  const next = draw(after.bucket, after.bucket.atMs + 10, CONFIG);
  t.ok(next.units <= 21, 'and the tick after it is back to the steady rate');
  t.equal(draw(bucket, bucket.atMs - 1000, CONFIG).units, 0, 'a clock stepping back gives nothing');
});

t.test('planners touch exactly the pages granted and stay inside the image', async (t) => {
  for (const profile of PROFILES) {
    for (const pageCount of [1, 3, 257]) {
      const rng = new Rng(9);
      const planner = createPlanner(profile, { rng, corpus: buildCorpus(rng, 8192), pageCount, pageSize: PAGE });
      let outside = 0;
      let wrongCount = 0;
      for (let i = 0; i < 200; i += 1) {
        const want = 1 + (i % 70);
        const ops = planner.plan(want);
        if (ops.reduce((n, op) => n + op.pages, 0) !== want) wrongCount += 1;
        for (const op of ops) if (op.position < 0 || op.position + op.data.length > pageCount * PAGE) outside += 1;
      }
      t.equal(outside, 0, `${profile}, ${pageCount} pages: no write outside`);
      t.equal(wrongCount, 0, `${profile}, ${pageCount} pages: pages touched == pages granted`);
    }
  }
});

for (const profile of PROFILES) {
  t.test(`${profile}: never dirties faster than the configured rate and never grows the file`, async (t) => {
    const image = join(scratch(t), 'vm.ram');
    const size = 32 * MiB;
    await fillImage(image, size, { seed: 2 });
    const rate = 8 * MiB;
    const started = performance.now();
    const workload = startWorkload({ path: image, size, profile, rateBytesPerSec: rate, seed: 4 });
    await sleep(1000); // how long it runs, not a synchronisation
    const stats = await workload.stop();
    const elapsedMs = performance.now() - started;
    // The bucket starts with one page and refills at the rate: a ceiling no load can push it over. How
    // close it comes to the rate depends on the machine's load: `npm run bench:timing` measures that.
    const ceiling = 1 + (rate / PAGE) * (elapsedMs / 1000);
    t.ok(stats.pagesWritten <= ceiling, `${profile}: ${stats.pagesWritten} pages in ${Math.round(elapsedMs)} ms, at most ${Math.floor(ceiling)}`);
    t.ok(stats.pagesWritten > 0, `${profile}: it wrote`);
    t.equal(stats.dirtyBytes, stats.pagesWritten * PAGE);
    t.equal(statSync(image).size, size, 'size unchanged');
  });
}

async function diffsAfter(t: Test, profile: ProfileName, rate: number, pagesToWrite: number): Promise<{ diffs: number[]; changed: number[] }> {
  const dir = scratch(t);
  const image = join(dir, 'vm.ram');
  const size = 16 * MiB;
  await fillImage(image, size, { seed: 3 });
  copyFileSync(image, join(dir, 'before'));
  const workload = startWorkload({ path: image, size, profile, rateBytesPerSec: rate, seed: 8 });
  await until(() => workload.stats.pagesWritten >= pagesToWrite, `${pagesToWrite} pages are written`);
  await workload.stop();
  const before = pages(readFileSync(join(dir, 'before')));
  const after = pages(readFileSync(image));
  const changed: number[] = [];
  const diffs: number[] = [];
  before.forEach((page, i) => {
    const n = differingBytes(page, after[i] as Buffer);
    if (n > 0) {
      changed.push(i);
      diffs.push(n);
    }
  });
  return { diffs: diffs.sort((a, b) => a - b), changed };
}

t.test('jvm changes a few bytes per page, within half of the image', async (t) => {
  const { diffs, changed } = await diffsAfter(t, 'jvm', 2 * MiB, 150);
  t.ok(changed.length > 50, `${changed.length} pages changed`);
  const median = diffs[Math.floor(diffs.length / 2)] ?? 0;
  t.ok(median <= 64, `median ${median} bytes changed per page`);
  // A page can be touched more than once in 150 writes, so only the typical page is held to 64 bytes.
  t.ok(diffs.every((n) => n < PAGE / 4), `at most ${diffs.at(-1)} bytes in the busiest page`);
  const span = (changed.at(-1) ?? 0) - (changed[0] ?? 0) + 1;
  t.ok(span <= (16 * MiB) / PAGE / 2, `changed pages span ${span} pages: the heap is half the image`);
});

t.test('compile rewrites whole pages; web updates small parts of a hot set', async (t) => {
  const compile = await diffsAfter(t, 'compile', 4 * MiB, 300);
  const compileMedian = compile.diffs[Math.floor(compile.diffs.length / 2)] ?? 0;
  t.ok(compileMedian > PAGE / 2, `compile: median ${compileMedian} bytes changed per page`);
  const web = await diffsAfter(t, 'web', 4 * MiB, 300);
  const webMedian = web.diffs[Math.floor(web.diffs.length / 2)] ?? 0;
  t.ok(webMedian < PAGE / 4, `web: median ${webMedian} bytes changed per page`);
});

t.test('a blocked process does not catch up afterwards', async (t) => {
  const image = join(scratch(t), 'vm.ram');
  const size = 16 * MiB;
  await fillImage(image, size, { seed: 2 });
  const rate = 8 * MiB;
  const workload = startWorkload({ path: image, size, profile: 'jvm', rateBytesPerSec: rate });
  await until(() => workload.stats.pagesWritten > 0, 'the workload writes');
  // Busy-waiting stops the timers just as SIGSTOP would stop the whole process.
  const blockedUntil = performance.now() + 1000;
  while (performance.now() < blockedUntil);
  const before = workload.stats.pagesWritten;
  const unblocked = performance.now();
  await until(() => workload.stats.pagesWritten > before, 'the workload writes again');
  const burst = workload.stats.pagesWritten - before;
  const sinceMs = performance.now() - unblocked;
  await workload.stop();
  const perSecond = rate / PAGE;
  // After the stall it may write the burst (50 ms worth) plus the rate for the time since; catching up
  // on the stall would add ~perSecond pages on top, whatever the load made `sinceMs`.
  const allowed = capacity({ ratePerSec: perSecond, burstMs: BURST_MS }) + perSecond * (sinceMs / 1000) + 1;
  t.ok(burst <= allowed, `${burst} pages right after a 1 s stall, at most ${Math.floor(allowed)}, not ~${perSecond} more`);
});

t.test('startWorkload refuses a missing file or a size mismatch and creates nothing', async (t) => {
  const dir = scratch(t);
  const missing = join(dir, 'missing');
  t.throws(() => startWorkload({ path: missing, size: MiB, profile: 'web', rateBytesPerSec: MiB }), { code: 'ENOENT' });
  t.notOk(existsSync(missing), 'not created');
  const image = join(dir, 'vm.ram');
  await fillImage(image, 2 * MiB);
  t.throws(() => startWorkload({ path: image, size: MiB, profile: 'web', rateBytesPerSec: MiB }), RangeError);
  t.throws(() => startWorkload({ path: image, size: 2 * MiB, profile: 'web', rateBytesPerSec: 0 }), RangeError);
  t.equal(statSync(image).size, 2 * MiB);
});
