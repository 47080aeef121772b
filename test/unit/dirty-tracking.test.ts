/**
 * DirtyTracking, the pass loop's view of tracked images (guest disks): pass 0 reads everything, later
 * passes read what the tracker froze, generations go only once an ACK covers their pass, and after a
 * reconnect the next pass also covers every unacknowledged generation. The tracker here records the
 * calls; the QEMU-backed one is exercised against qemu-storage-daemon and in the QEMU e2e tests.
 */
import t from 'tap';
import type { PageRange } from '@ferry/protocol';
import { DirtyTracking, type DirtyTracker } from '@ferry/agent-source';

class RecordingTracker implements DirtyTracker {
  readonly kind = 'recording';
  readonly calls: string[] = [];
  readonly frozen: PageRange[][];
  #generation = 0;

  constructor(frozen: PageRange[][]) {
    this.frozen = frozen;
  }

  async start(): Promise<void> {
    this.calls.push('start');
  }

  async freeze(): Promise<{ generation: number; ranges: readonly PageRange[] }> {
    const generation = this.#generation++;
    this.calls.push(`freeze ${generation}`);
    return { generation, ranges: this.frozen[generation] ?? [] };
  }

  async release(generation: number): Promise<void> {
    this.calls.push(`release ${generation}`);
  }

  async close(): Promise<void> {
    this.calls.push('close');
  }
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

t.test('pass 0 reads all, later passes read the frozen ranges; untracked images read all', async (t) => {
  const tracker = new RecordingTracker([[[4, 6]], [[1, 2], [8, 9]]]);
  const tracking = new DirtyTracking([undefined, tracker], (error) => t.fail(String(error)));
  t.ok(tracking.active);
  await tracking.start();
  t.equal(await tracking.rangesFor(0, 0), undefined, 'a hash-scanned image: every page');
  t.equal(await tracking.rangesFor(1, 0), undefined, 'pass 0 of a disk: every page');
  t.same(await tracking.rangesFor(1, 1), [[4, 6]]);
  t.same(await tracking.rangesFor(1, 2), [[1, 2], [8, 9]]);
  t.same(tracking.passesRead(), [undefined, 3]);
  t.same(tracker.calls, ['start', 'freeze 0', 'freeze 1']);
  await tracking.close();
  t.same(tracker.calls.at(-1), 'close');
  t.notOk(new DirtyTracking([undefined], () => {}).active, 'no tracker, nothing active');
});

t.test('a generation is released only once an ACK shows its pass applied', async (t) => {
  const tracker = new RecordingTracker([[[0, 1]], [[2, 3]], [[4, 5]]]);
  const tracking = new DirtyTracking([tracker], (error) => t.fail(String(error)));
  await tracking.start();
  await tracking.rangesFor(0, 0);
  await tracking.rangesFor(0, 1); // generation 0
  await tracking.rangesFor(0, 2); // generation 1
  tracking.acknowledged(0);
  await settle();
  t.notOk(tracker.calls.some((c) => c.startsWith('release')), 'pass 0 used no generation: nothing to release');
  tracking.acknowledged(1);
  await settle();
  t.same(tracker.calls.filter((c) => c.startsWith('release')), ['release 0']);
  tracking.acknowledged(1);
  await settle();
  t.same(tracker.calls.filter((c) => c.startsWith('release')), ['release 0'], 'a repeated ACK releases nothing more');
  await tracking.close();
});

t.test('after a reconnect the next pass covers every unacknowledged generation too', async (t) => {
  const tracker = new RecordingTracker([[[10, 12]], [[20, 21]], [[5, 6]], [[30, 31]]]);
  const tracking = new DirtyTracking([tracker], (error) => t.fail(String(error)));
  await tracking.start();
  await tracking.rangesFor(0, 0);
  tracking.reconnected();
  t.equal(await tracking.rangesFor(0, 0), undefined, 'pass 0 cut before its ACK: every page again');
  tracking.acknowledged(0);
  await settle();
  t.same(tracker.calls.filter((c) => c.startsWith('release')), ['release 0'], 'the retried pass 0 froze generation 0; its ACK releases it');
  t.same(await tracking.rangesFor(0, 1), [[20, 21]], 'pass 1 reads generation 1');
  tracking.acknowledged(0);
  tracking.reconnected();
  t.same(await tracking.rangesFor(0, 1), [[5, 6], [20, 21]], 'the retried pass 1: its new generation and the unacknowledged generation 1 (generation 0 was acknowledged)');
  tracking.acknowledged(1);
  t.same(await tracking.rangesFor(0, 2), [[30, 31]], 'no reconnect, no widening');
  await tracking.close();
});

t.test('a memory tracker: every Nth pre-copy pass reads all pages, the paused final pass never does', async (t) => {
  class MemoryTracker extends RecordingTracker {
    readonly memory = true;
    readonly fullCheckEvery = 2;
    readonly contexts: Array<boolean | undefined> = [];
    override async freeze(context?: { paused: boolean }): Promise<{ generation: number; ranges: readonly PageRange[] }> {
      this.contexts.push(context?.paused);
      return super.freeze();
    }
  }
  const memory = new MemoryTracker([[[1, 2]], [[3, 4]], [[5, 6]], [[7, 8]]]);
  const disk = new RecordingTracker([]);
  const tracking = new DirtyTracking([memory, disk], (error) => t.fail(String(error)));
  t.same(tracking.trackedImages('disks'), [1], 'the state hook waits for disks, not for memory');
  await tracking.start();
  t.equal(await tracking.rangesFor(0, 0), undefined);
  t.same(await tracking.rangesFor(0, 1), [[1, 2]]);
  t.equal(await tracking.rangesFor(0, 2), undefined, 'the second pre-copy pass since the last full read reads everything');
  t.same(await tracking.rangesFor(0, 3), [[5, 6]]);
  t.same(await tracking.rangesFor(0, 4, true), [[7, 8]], 'the final pass reads only the log, even when a full read is due');
  t.same(memory.contexts, [false, false, false, true], 'the tracker learns which pass is paused');
  await tracking.close();
});
