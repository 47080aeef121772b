/**
 * The QEMU tests read a guest's serial log while QEMU is still writing it (test/helpers/qemu.ts): a line
 * counts only once it ends, so a poll that lands inside one sees nothing of it yet.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { scratchDir } from '../helpers/ferry.js';
import { guestFatal, readDiskBeats, readHeartbeats } from '../helpers/qemu.js';

t.test('a FATAL line half written is not yet the reason; once it ends, all of it is', async (t) => {
  const log = join(scratchDir(t), 'serial.log');
  const reason = 'no block device /dev/vda after loading virtio.ko virtio_blk.ko (see the insmod lines above)';
  writeFileSync(log, `insmod virtio.ko\r\ninit: FATAL: ${reason.slice(0, 40)}`);
  t.equal(guestFatal(log), undefined);
  writeFileSync(log, `insmod virtio.ko\r\ninit: FATAL: ${reason}\r\n`);
  t.equal(guestFatal(log), reason);
});

t.test('heartbeats and disk beats: the line being written is left for the next read', async (t) => {
  const log = join(scratchDir(t), 'serial.log');
  writeFileSync(log, 'HB 1 ok=10 bad=0\r\nHB 2 ok=20 bad=0\nHB 3 ok=3');
  t.same(readHeartbeats(log), [{ counter: 1, ok: 10, bad: 0 }, { counter: 2, ok: 20, bad: 0 }]);
  writeFileSync(log, 'DISK 1 written=4 ok=4 bad=0 sweeps=1\r\nDISK 2 written=8 ok=8 bad=0 sweeps=1');
  t.same(readDiskBeats(log), [{ counter: 1, written: 4, ok: 4, bad: 0, sweeps: 1 }]);
});
