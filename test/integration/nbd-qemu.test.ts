/**
 * The NBD client and the dirty-bitmap chain against a real qemu-storage-daemon: a raw disk, a writable
 * export that qemu-io writes through (so QEMU's bitmaps see the writes), and ferry's read-only bitmap
 * exports on the same NBD server. Checks the extents, the bytes, the chain's generations, and that
 * close() leaves neither bitmap nor export behind.
 */
import { join } from 'node:path';
import t from 'tap';
import { NbdClient, NbdError } from '@ferry/nbd';
import { DiskBitmapChain, diskBitmapPrefix, DiskLookupError, QmpClient, removeDiskLeftovers, resolveDisk } from '@ferry/qemu';
import { exportsOf, MiB, storageDaemon, storageDaemonMissing } from '../helpers/storage-daemon.js';

const skip = storageDaemonMissing() ?? false;

const bitmapsOf = async (qmp: QmpClient): Promise<string[]> => {
  const nodes = await qmp.execute<Array<{ 'node-name': string; 'dirty-bitmaps'?: Array<{ name: string }> }>>('query-named-block-nodes', { flat: true });
  return nodes.find((n) => n['node-name'] === 'disk0')?.['dirty-bitmaps']?.map((b) => b.name).sort() ?? [];
};

t.test('a bitmap chain finds exactly the written blocks, generation by generation, and cleans up', { skip }, async (t) => {
  const { disk, qmp, nbdSocket, write } = await storageDaemon(t);
  t.same(await resolveDisk(qmp, 'disk0'), { node: 'disk0', file: disk, format: 'raw', size: 16 * MiB }, 'a raw node over a file is read from the file');
  const unknown = await resolveDisk(qmp, 'vdz').catch((error: unknown) => error);
  t.type(unknown, DiskLookupError);
  t.match(String(unknown), /no block device or node 'vdz'.*disk0/, 'an unknown NODE lists what QEMU has');

  const chain = await DiskBitmapChain.start(qmp, { node: 'disk0', prefix: 'ferry-test', nbdSocket, granularity: 4096 });
  write(0xab, 8192, 4096);
  write(0xcd, MiB, 64 * 1024);
  const first = await chain.freeze();
  t.same(first, { generation: 0, extents: [{ offset: 8192, length: 4096 }, { offset: MiB, length: 64 * 1024 }] });

  write(0xef, 12 * MiB + 512, 100); // inside one 4 KiB block
  const second = await chain.freeze();
  t.same(second, { generation: 1, extents: [{ offset: 12 * MiB, length: 4096 }] }, 'the next generation holds only the later write');
  t.same(await bitmapsOf(qmp), ['ferry-test-0', 'ferry-test-1', 'ferry-test-2']);
  t.same(await exportsOf(qmp), ['ferry-test-0', 'ferry-test-1', 'rw']);

  await chain.release(0);
  t.same(await bitmapsOf(qmp), ['ferry-test-1', 'ferry-test-2'], 'release drops only what the target acknowledged');
  t.same(await exportsOf(qmp), ['ferry-test-1', 'rw']);

  await chain.close();
  t.same(await bitmapsOf(qmp), [], 'no bitmap left');
  t.same(await exportsOf(qmp), ['rw'], 'no export of ours left; the NBD server we did not start keeps running');
});

t.test('what a killed migration left (a frozen bitmap, its export) is removed by name, and nothing else', { skip }, async (t) => {
  const { qmp, nbdSocket, write } = await storageDaemon(t);
  const prefix = diskBitmapPrefix('m1', 'vda');
  const chain = await DiskBitmapChain.start(qmp, { node: 'disk0', prefix, nbdSocket, granularity: 4096 });
  write(0x11, 0, 4096);
  await chain.freeze(); // the process "dies" here: no release, no close
  await qmp.execute('block-dirty-bitmap-add', { node: 'disk0', name: `${prefix}-x` });
  await qmp.execute('block-dirty-bitmap-add', { node: 'disk0', name: diskBitmapPrefix('m1', 'vda-0') + '-0' });
  t.same((await removeDiskLeftovers(qmp, prefix)).sort(), [`bitmap ${prefix}-0`, `bitmap ${prefix}-1`, `export ${prefix}-0`]);
  t.same(await bitmapsOf(qmp), ['ferry-m1-vda-0-0', `${prefix}-x`], "another migration's or disk's names stay");
  t.same(await exportsOf(qmp), ['rw']);
});

t.test('NBD READ returns the bytes; refusals name the reason', { skip }, async (t) => {
  const { qmp, nbdSocket, write } = await storageDaemon(t);
  write(0x5a, 4096, 8192);
  const client = await NbdClient.connect(nbdSocket, { exportName: 'rw', metaContexts: ['base:allocation'] });
  t.teardown(() => client.close());
  t.equal(client.size, 16 * MiB);
  t.equal(client.readOnly, false);
  const data = await client.read(0, 16384);
  t.ok(data.subarray(0, 4096).every((b) => b === 0), 'untouched block reads as zero');
  t.ok(data.subarray(4096, 12288).every((b) => b === 0x5a), 'written blocks read back');
  t.ok(data.subarray(12288).every((b) => b === 0));
  const big = await client.read(0, 16 * MiB);
  t.equal(big.length, 16 * MiB);
  const allocation = await client.extents('base:allocation');
  t.equal(allocation.reduce((sum, e) => sum + e.length, 0), 16 * MiB, 'extents cover the whole export');
  await t.rejects(client.read(16 * MiB - 10, 20), RangeError);
  await t.rejects(client.blockStatus('qemu:dirty-bitmap:none', 0, 4096), /was not selected/);

  const refused = await NbdClient.connect(nbdSocket, { exportName: 'nope' }).catch((error: unknown) => error);
  t.type(refused, NbdError);
  t.match(String(refused), /NBD_REP_ERR_UNKNOWN/);
  await t.rejects(NbdClient.connect(nbdSocket, { exportName: 'rw', metaContexts: ['qemu:dirty-bitmap:none'] }), /no meta context qemu:dirty-bitmap:none/);
  await t.rejects(NbdClient.connect(join(nbdSocket, 'x'), { exportName: 'rw', timeoutMs: 1000 }), /could not connect/);
  t.same(await exportsOf(qmp), ['rw']);
});
