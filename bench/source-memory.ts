/**
 * `node --import tsx bench/source-memory.ts`: where the source's memory is at its peak. One `ferry migrate`
 * of a cold image of non-zero pages (bench/images.ts; FERRY_BENCH_SIZE, default 1GiB) to a fresh target on
 * loopback with default flags; the source's /proc/<pid>/smaps is read every 15 ms and the reading with the
 * largest resident set is broken down:
 *   - file-backed mappings (the node binary's text is most of them, shared with every Node process)
 *   - glibc's main heap ([heap]) and its other arenas (one per thread that mallocs; their heaps start on a
 *     64 MiB boundary)
 *   - V8's heap pages (256 KiB mappings), with each thread's own heap from bench/thread-heaps.mjs
 *   - every other anonymous mapping over 1 MiB by itself (large ArrayBuffers: the batch buffers, the COPY
 *     index, the shared page-hash table, the hashers' WebAssembly memories)
 * The machine is shared: resident memory moves little with load, but compare runs of one sitting.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSize } from '../cli/src/units.js';
import { runMigrate, startTarget, TeardownList } from '../test/helpers/ferry.js';
import { writeNonZeroImage } from './images.js';

const SIZE = parseSize(process.env['FERRY_BENCH_SIZE'] ?? '1GiB', 'FERRY_BENCH_SIZE');
const KiB = 1024;
const mib = (kib: number): string => `${(kib / KiB).toFixed(1)} MiB`;

interface Mapping {
  readonly start: number;
  readonly sizeKib: number;
  readonly name: string;
  rssKib: number;
}

function readSmaps(pid: number): Mapping[] | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  } catch {
    return undefined;
  }
  const mappings: Mapping[] = [];
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const start = parseInt(head[1]!, 16);
      mappings.push({ start, sizeKib: (parseInt(head[2]!, 16) - start) / KiB, name: head[3] || '[anon]', rssKib: 0 });
    } else if (line.startsWith('Rss:')) {
      mappings[mappings.length - 1]!.rssKib = Number(/(\d+) kB/.exec(line)?.[1] ?? 0);
    }
  }
  return mappings;
}

const sum = (mappings: readonly Mapping[]): number => mappings.reduce((total, m) => total + m.rssKib, 0);

function breakdown(peak: readonly Mapping[]): string[] {
  const file = peak.filter((m) => m.name.startsWith('/'));
  const anon = peak.filter((m) => m.name === '[anon]');
  const v8Pages = anon.filter((m) => m.sizeKib === 256);
  const arenas = anon.filter((m) => m.sizeKib !== 256 && m.start % 2 ** 26 === 0);
  const rest = anon.filter((m) => m.sizeKib !== 256 && m.start % 2 ** 26 !== 0);
  const large = rest.filter((m) => m.rssKib >= KiB).sort((a, b) => b.rssKib - a.rssKib);
  return [
    `peak RSS ${mib(sum(peak))}`,
    `  file-backed ${mib(sum(file))} (the node binary ${mib(sum(file.filter((m) => m.name.endsWith('/node'))))})`,
    `  anonymous ${mib(sum(peak) - sum(file))}:`,
    `    V8 heap pages ${mib(sum(v8Pages))}`,
    `    glibc [heap] ${mib(sum(peak.filter((m) => m.name === '[heap]')))}, other arenas ${mib(sum(arenas))} (${arenas.filter((m) => m.rssKib > 0).length})`,
    `    other mappings of 1 MiB or more: ${large.map((m) => `${mib(m.rssKib)} (of ${mib(m.sizeKib)})`).join(', ')}`,
    `    the rest ${mib(sum(rest) - sum(large))} (thread stacks, small buffers)`,
  ];
}

/** Each thread's V8 heap at its own high, as bench/thread-heaps.mjs wrote it. */
function threadHeaps(dir: string, pid: number): string[] {
  const files = readdirSync(dir).filter((f) => f.startsWith(`${pid}-`)).sort();
  return files.map((f) => {
    const heap = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { isMainThread: boolean; physical: number; used: number; spaces: Record<string, { physical: number }> };
    const spaces = Object.entries(heap.spaces).map(([name, s]) => `${name.replace(/_space$/, '')} ${mib(s.physical / KiB)}`).join(', ');
    return `  ${heap.isMainThread ? 'main thread' : `thread ${f.split('-')[1]!.replace('.json', '')}`}: ${mib(heap.physical / KiB)} (used ${mib(heap.used / KiB)}; ${spaces})`;
  });
}

const work = mkdtempSync('/dev/shm/ferry-source-memory-');
const scope = new TeardownList();
try {
  const image = join(work, 'nonzero.img');
  writeNonZeroImage(image, SIZE);
  const target = await startTarget(scope, join(work, 'target'));
  const heaps = join(work, 'heaps');
  mkdirSync(heaps);
  const probe = fileURLToPath(new URL('./thread-heaps.mjs', import.meta.url));
  process.env['NODE_OPTIONS'] = `--import ${probe}`;
  process.env['FERRY_HEAPS_DIR'] = heaps;
  let peak: Mapping[] = [];
  let sampler: NodeJS.Timeout | undefined;
  let pid = 0;
  const run = await runMigrate(scope, ['--to', target.url, '--image', `ram=${image}`, '--id', 'source-memory'], (_event, child) => {
    pid = child.pid!;
    sampler ??= setInterval(() => {
      const mappings = readSmaps(pid);
      if (mappings && sum(mappings) > sum(peak)) peak = mappings;
    }, 15);
  });
  clearInterval(sampler);
  if (run.summary['result'] !== 'committed') throw new Error(`migration did not commit: ${JSON.stringify(run.summary)}`);
  console.log(`ferry source memory, ${mib(SIZE / KiB)} cold image, default flags`);
  for (const line of [...breakdown(peak), 'V8 heap of each thread at its own high:', ...threadHeaps(heaps, pid)]) console.log(line);
} finally {
  await scope.run();
  rmSync(work, { recursive: true, force: true });
}
