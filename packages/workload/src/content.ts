/**
 * Page contents that look like a guest's memory to the migration: zero pages (free memory), text pages
 * (logs, JSON, prose: what LZ4 compresses 2-4x) and random pages (compressed or encrypted data, code,
 * what LZ4 cannot shrink). Pure: bytes come from an Rng, no I/O.
 */
import { Rng } from './prng.js';

export type PageKind = 'zero' | 'text' | 'random';

const WORDS = (
  'the of and to in is was for on that with as by at from this be are have not order cart item user '
  + 'session request response cache buffer thread worker kernel memory page heap object value key index '
  + 'table query commit retry timeout error warning info debug ready pending shipped customer account'
).split(' ');
const NAMES = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy'];
const STATUSES = ['active', 'pending', 'shipped', 'cancelled', 'returned'];
const PATHS = ['/api/v1/orders', '/api/v1/items', '/cart', '/search', '/login', '/static/app.js'];
const CLASSES = ['OrderService', 'CartController', 'ItemRepository', 'SessionCache', 'TxManager'];
const LEVELS = ['INFO ', 'INFO ', 'INFO ', 'DEBUG', 'WARN ', 'ERROR'];

/**
 * A few hundred KiB of generated lines that text pages are cut from. Lines come in runs of one kind, as
 * in a log file or a JSON heap dump, so a page shares structure with itself and compresses.
 */
export interface TextCorpus {
  readonly bytes: Uint8Array;
  /** Offsets of line starts; the last entry is bytes.length. */
  readonly lineStarts: Uint32Array;
}

export function buildCorpus(rng: Rng, targetBytes = 256 * 1024): TextCorpus {
  const pick = <T>(list: readonly T[]): T => list[rng.int(list.length)] as T;
  const pad = (n: number, width: number): string => String(n).padStart(width, '0');
  // Each maker starts a run sharing context (same hour, same user, same class), as real logs and
  // heaps do; that shared context is what LZ4 finds inside one page.
  const makers: Array<() => () => string> = [
    () => {
      const day = pad(rng.between(1, 28), 2), hour = pad(rng.int(24), 2), worker = rng.int(16);
      let ms = rng.int(3_600_000);
      return () => {
        ms += rng.int(2000);
        const time = `${pad(Math.floor(ms / 60000) % 60, 2)}:${pad(Math.floor(ms / 1000) % 60, 2)}.${pad(ms % 1000, 3)}`;
        return `2024-03-${day}T${hour}:${time}Z ${pick(LEVELS)} [worker-${worker}] GET ${pick(PATHS)}/${rng.int(1000)} ${rng.int(10) ? 200 : 404} ${rng.int(90)}ms user=${pick(NAMES)}\n`;
      };
    },
    () => {
      let id = rng.int(1e6);
      return () => {
        id += 1 + rng.int(3);
        return `{"id":${id},"user":"${pick(NAMES)}","status":"${pick(STATUSES)}","items":[${rng.int(500)}],"total":${rng.int(500)}.${pad(rng.int(100), 2)}}\n`;
      };
    },
    () => () => `${Array.from({ length: rng.between(6, 14) }, () => pick(WORDS)).join(' ')}.\n`,
    () => {
      const cls = pick(CLASSES);
      return () => `    at com.example.shop.${cls}.handle${pick(CLASSES)}(${cls}.java:${rng.between(20, 900)})\n`;
    },
  ];
  const lines: string[] = [];
  let length = 0;
  while (length < targetBytes) {
    const make = pick(makers)();
    for (let n = rng.between(8, 40); n > 0; n -= 1) {
      const line = make();
      lines.push(line);
      length += line.length;
    }
  }
  const bytes = new TextEncoder().encode(lines.join(''));
  const lineStarts = new Uint32Array(lines.length + 1);
  let offset = 0;
  lines.forEach((line, i) => {
    lineStarts[i] = offset;
    offset += line.length;
  });
  lineStarts[lines.length] = offset;
  return { bytes, lineStarts };
}

/** Fills `target` with runs of consecutive corpus lines taken from random places. */
export function fillText(rng: Rng, corpus: TextCorpus, target: Uint8Array): void {
  const lineCount = corpus.lineStarts.length - 1;
  let pos = 0;
  while (pos < target.length) {
    const first = rng.int(lineCount);
    const last = Math.min(first + rng.between(2, 12), lineCount);
    const start = corpus.lineStarts[first] ?? 0;
    const end = Math.min(corpus.lineStarts[last] ?? 0, start + target.length - pos);
    target.set(corpus.bytes.subarray(start, end), pos);
    pos += end - start;
  }
}

/** Fills one page (or a run of pages) of the given kind; zero means zeroing. */
export function fillKind(rng: Rng, corpus: TextCorpus, kind: PageKind, target: Uint8Array): void {
  switch (kind) {
    case 'zero': target.fill(0); return;
    case 'text': fillText(rng, corpus, target); return;
    case 'random': rng.fill(target); return;
  }
}

/** Shares of the image by kind and mean run length in pages; shares add up to 1. */
export interface KindMix {
  readonly share: Readonly<Record<PageKind, number>>;
  readonly meanRun: Readonly<Record<PageKind, number>>;
}

export const IMAGE_MIX: KindMix = {
  share: { zero: 0.4, text: 0.35, random: 0.25 },
  meanRun: { zero: 48, text: 12, random: 8 },
};

const KINDS: readonly PageKind[] = ['zero', 'text', 'random'];

/**
 * Yields runs of page kinds covering `pageCount` pages. A run's kind is drawn with probability
 * share/meanRun, so that over many runs each kind covers its share of pages even though run lengths differ.
 */
export function* kindRuns(rng: Rng, pageCount: number, mix: KindMix = IMAGE_MIX): Generator<{ kind: PageKind; pages: number }> {
  const weights = KINDS.map((k) => mix.share[k] / mix.meanRun[k]);
  const total = weights.reduce((a, b) => a + b, 0);
  let left = pageCount;
  while (left > 0) {
    let x = rng.float() * total;
    let index = 0;
    while (index < KINDS.length - 1 && x >= (weights[index] ?? 0)) {
      x -= weights[index] ?? 0;
      index += 1;
    }
    const kind = KINDS[index] ?? 'random';
    const pages = Math.min(rng.runLength(mix.meanRun[kind]), left);
    left -= pages;
    yield { kind, pages };
  }
}
