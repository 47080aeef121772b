/** `--disk NAME=NODE` checks that need no QEMU, and QEMU's byte extents turned into ferry's page ranges. */
import t from 'tap';
import { checkDiskArgs, toPageRanges } from '../../cli/src/source-disks.js';
import { UsageError } from '../../cli/src/usage.js';

t.test('--disk needs --qmp, a valid NAME=NODE, and a name no --image has', async (t) => {
  t.doesNotThrow(() => checkDiskArgs({ image: ['ram=/r'] }), 'no --disk, nothing to check');
  t.doesNotThrow(() => checkDiskArgs({ image: ['ram=/r'], disk: ['vda=vda'], qmp: '/q' }));
  t.throws(() => checkDiskArgs({ image: ['ram=/r'], disk: ['vda=vda'] }), new UsageError('--disk NAME=NODE needs --qmp SOCKET (the disk is tracked by QEMU)'));
  t.throws(() => checkDiskArgs({ image: ['vda=/r'], disk: ['vda=vda'], qmp: '/q' }), /--disk vda has the name of an --image/);
  t.throws(() => checkDiskArgs({ image: ['ram=/r'], disk: ['vda'], qmp: '/q' }), UsageError);
  t.throws(() => checkDiskArgs({ image: ['ram=/r'], disk: ['vda=a', 'vda=b'], qmp: '/q' }), UsageError, 'a name given twice');
});

t.test('byte extents cover whole pages', async (t) => {
  t.same(toPageRanges([{ offset: 0, length: 4096 }, { offset: 8192 + 512, length: 100 }, { offset: 1 << 20, length: 65536 }], 4096),
    [[0, 1], [2, 3], [256, 272]]);
  t.same(toPageRanges([], 4096), []);
});
