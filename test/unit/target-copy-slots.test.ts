/**
 * CopySlots bounds how many `--base` copies a target runs at once: more HELLOs queue their copies
 * instead of sharing the disk (and the target) among all of them.
 */
import t from 'tap';
import { CopySlots } from '@ferry/agent-target';

t.test('at most `limit` copies run at once; the others wait their turn, in order', async (t) => {
  const slots = new CopySlots(1);
  let running = 0;
  let most = 0;
  const finished: number[] = [];
  const releases: Array<() => void> = [];
  const copies = [0, 1, 2].map((n) => slots.run(async () => {
    running++;
    most = Math.max(most, running);
    await new Promise<void>((resolve) => releases.push(resolve));
    running--;
    finished.push(n);
  }));
  for (let n = 0; n < 3; n++) {
    while (releases.length === 0) await new Promise((resolve) => setImmediate(resolve));
    t.equal(running, 1, `copy ${n} runs alone`);
    releases.shift()!();
    await copies[n];
  }
  t.equal(most, 1, 'never two at once');
  t.same(finished, [0, 1, 2], 'in the order they asked');
});

t.test('a copy that fails gives its slot to the next', async (t) => {
  const slots = new CopySlots(1);
  await t.rejects(slots.run(async () => { throw new Error('unreadable base'); }), /unreadable base/);
  t.equal(await slots.run(async () => 'next'), 'next');
});
