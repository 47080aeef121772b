/** `--disk NAME=NODE` checks that need no QEMU, and QEMU's byte extents turned into ferry's page ranges. */
import t from 'tap';
import { toPageRanges } from '@ferry/qemu';
import { parseMigratePlan, type MigrateArgs } from '../../cli/src/migrate-plan.js';
import { UsageError } from '../../cli/src/usage.js';

const defaults = { newId: () => 'm1', workers: 1, stateDir: '/run/ferry-test' };
const plan = (args: MigrateArgs) => parseMigratePlan({ to: 'ws://127.0.0.1:1', ...args }, defaults);

t.test('--disk needs --qmp, a valid NAME=NODE, and a name no --image has', async (t) => {
  t.same(plan({ image: ['ram=/r'] }).disks, [], 'no --disk, no disks');
  t.same(plan({ image: ['ram=/r'], disk: ['vda=vda', 'vdb=drive1'], qmp: '/q' }).disks, [{ name: 'vda', node: 'vda' }, { name: 'vdb', node: 'drive1' }]);
  t.throws(() => plan({ image: ['ram=/r'], disk: ['vda=vda'] }), new UsageError('--disk NAME=NODE needs --qmp SOCKET (the disk is tracked by QEMU)'));
  t.throws(() => plan({ image: ['vda=/r'], disk: ['vda=vda'], qmp: '/q' }), /--disk vda has the name of an --image/);
  t.throws(() => plan({ image: ['ram=/r'], disk: ['vda'], qmp: '/q' }), /--disk vda must be NAME=NODE/);
  t.throws(() => plan({ image: ['ram=/r'], disk: ['vda=a', 'vda=b'], qmp: '/q' }), UsageError, 'a name given twice');
  t.throws(() => plan({ image: ['a-b=/r'], disk: ['a_b=vda'], qmp: '/q' }), /FERRY_IMAGE_A_B/, 'an image and a disk whose variables collide');
});

t.test('byte extents cover whole pages', async (t) => {
  t.same(toPageRanges([{ offset: 0, length: 4096 }, { offset: 8192 + 512, length: 100 }, { offset: 1 << 20, length: 65536 }], 4096),
    [[0, 1], [2, 3], [256, 272]]);
  t.same(toPageRanges([], 4096), []);
});
