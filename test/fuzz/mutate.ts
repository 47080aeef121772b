/**
 * Mutations of recorded sessions: byte-level (flips, boundary values, truncation, extension, splices)
 * and frame-level (drop, duplicate, swap, a foreign type byte). Deterministic for a seed.
 */
import { decodeMessage, encodeControl, MessageType } from '@ferry/protocol';

/** xorshift32: reproducible runs from `--seed`. */
export class Random {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0 || 1;
  }
  next(): number {
    let x = this.#state;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.#state = x >>> 0;
    return this.#state / 0x1_0000_0000;
  }
  below(n: number): number {
    return Math.floor(this.next() * n);
  }
}

const BOUNDARY = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff];

function mutateBytes(frame: Uint8Array, random: Random): Uint8Array {
  if (frame.length === 0) return Uint8Array.of(random.below(256));
  const out = new Uint8Array(frame);
  switch (random.below(7)) {
    case 0: { // bit flips
      for (let i = 0, n = 1 + random.below(4); i < n; i++) out[random.below(out.length)]! ^= 1 << random.below(8);
      return out;
    }
    case 1: { // boundary bytes, often in a header
      const at = random.below(Math.min(out.length, random.next() < 0.7 ? 24 : out.length));
      out[at] = BOUNDARY[random.below(BOUNDARY.length)]!;
      return out;
    }
    case 2: // truncation
      return out.subarray(0, random.below(out.length));
    case 3: { // extension with junk
      const tail = new Uint8Array(1 + random.below(64)).map(() => random.below(256));
      return Uint8Array.from([...out, ...tail]);
    }
    case 4: { // a u32 somewhere set to a large value
      if (out.length < 4) return out;
      new DataView(out.buffer).setUint32(random.below(out.length - 3), [0xffffffff, 0x80000000, 0x10000, out.length * 2][random.below(4)]!, true);
      return out;
    }
    case 5: // another message type, same body
      out[0] = random.below(24);
      return out;
    default: { // random bytes over a span
      const start = random.below(out.length);
      for (let i = start; i < Math.min(out.length, start + 1 + random.below(16)); i++) out[i] = random.below(256);
      return out;
    }
  }
}

/** The recorded HELLO with this run's migration id, so sessions never collide. */
function renamedHello(frame: Uint8Array, migrationId: string): Uint8Array {
  const hello = decodeMessage(frame);
  if (hello.type !== MessageType.Hello) return frame;
  return encodeControl({ ...hello, migrationId });
}

/** One fuzz session: the recording, renamed, cut at a random point, with a few frames mutated. */
export function mutateSession(recording: readonly Uint8Array[], migrationId: string, random: Random): Uint8Array[] {
  const frames = recording.map((frame, i) => (i === 0 ? renamedHello(frame, migrationId) : frame));
  const length = 1 + random.below(frames.length);
  const session = frames.slice(0, length);
  const mutations = 1 + random.below(3);
  for (let m = 0; m < mutations; m++) {
    if (session.length === 0) session.push(frames[0]!);
    const at = random.below(session.length);
    const kind = random.below(10);
    if (kind < 6) session[at] = mutateBytes(session[at]!, random);
    else if (kind === 6) session.splice(at, 1);
    else if (kind === 7) session.splice(at, 0, session[at]!);
    else if (kind === 8 && session.length > 1) {
      const other = random.below(session.length);
      [session[at], session[other]] = [session[other]!, session[at]!];
    } else session.push(frames[random.below(frames.length)]!);
  }
  return session.length > 0 ? session : [frames[0]!];
}
