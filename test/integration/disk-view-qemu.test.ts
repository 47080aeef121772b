/**
 * A qcow2 disk node has no file holding the guest's bytes as they are, so ferry reads it through a
 * read-only FUSE export of the node (DiskFileView), against a real qemu-storage-daemon: the view reads
 * exactly what was written through QEMU, the node's dirty bitmaps still track writes, close() unmounts
 * and removes it, and `ferry recover`'s removeDiskLeftovers finds a view a killed migration left.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DiskBitmapChain, diskBitmapPrefix, DiskFileView, DiskLookupError, removeDiskLeftovers, resolveDisk } from '@ferry/qemu';
import { exportsOf, MiB, storageDaemon, storageDaemonMissing } from '../helpers/storage-daemon.js';

const missing = storageDaemonMissing() ?? (existsSync('/dev/fuse') ? undefined : 'no /dev/fuse on this machine');
const skip = missing ?? false;

t.test('a qcow2 node is read through its FUSE view, byte for byte, while its bitmaps track writes', { skip }, async (t) => {
  const { dir, qmp, nbdSocket, write } = await storageDaemon(t, 'qcow2');
  const node = await resolveDisk(qmp, 'disk0');
  t.same(node, { node: 'disk0', file: undefined, format: 'qcow2', size: 16 * MiB }, 'a qcow2 node has no file to read directly');

  write(0xab, 8192, 4096);
  const prefix = diskBitmapPrefix('m1', 'vda');
  const path = join(dir, 'view');
  const view = await DiskFileView.open(qmp, { node: 'disk0', prefix, path, label: 'vda=disk0' });
  t.equal(statSync(path).size, 16 * MiB, 'the view is the guest-visible size, not the qcow2 file size');
  const chain = await DiskBitmapChain.start(qmp, { node: 'disk0', prefix, nbdSocket, granularity: 4096 });
  write(0xcd, MiB, 65536);
  const bytes = readFileSync(path);
  t.ok(bytes.subarray(8192, 12288).every((b) => b === 0xab) && bytes.subarray(MiB, MiB + 65536).every((b) => b === 0xcd), 'the view shows what QEMU wrote');
  t.ok(bytes.subarray(0, 8192).every((b) => b === 0) && bytes.subarray(12288, MiB).every((b) => b === 0), 'and zeros where nothing was written');
  t.same((await chain.freeze()).extents, [{ offset: MiB, length: 65536 }], 'the bitmap on the qcow2 node saw the later write');

  // The kernel caches what was read through an open file: a block rewritten through QEMU reads fresh
  // only after dropCache() (the scan keeps its file open across passes).
  const fd = openSync(path, 'r');
  const block = (): Buffer => {
    const buffer = Buffer.alloc(4096);
    readSync(fd, buffer, 0, 4096, MiB);
    return buffer;
  };
  t.equal(block()[0], 0xcd);
  write(0xef, MiB, 4096);
  t.comment(`before dropCache the rewritten block read ${block()[0] === 0xef ? 'fresh' : 'stale'}`);
  await view.dropCache();
  t.ok(block().every((b) => b === 0xef), 'after dropCache the rewritten block reads as QEMU now holds it');
  closeSync(fd); // an open file keeps the FUSE mount busy
  t.same(await exportsOf(qmp), [`${prefix}-0`, `${prefix}-view`, 'rw']);

  await chain.close();
  await view.close();
  t.same(await exportsOf(qmp), ['rw'], 'close() removes the view export');
  t.notOk(existsSync(path), 'and its file');
});

t.test('a view a killed migration left is removed by name', { skip }, async (t) => {
  const { dir, qmp } = await storageDaemon(t, 'qcow2');
  const prefix = diskBitmapPrefix('m2', 'vda');
  await DiskFileView.open(qmp, { node: 'disk0', prefix, path: join(dir, 'view'), label: 'vda=disk0' }); // the process "dies": no close
  t.same(await removeDiskLeftovers(qmp, prefix), [`export ${prefix}-view`]);
  t.same(await exportsOf(qmp), ['rw']);
});

t.test('a view that QEMU refuses is an error naming the disk and what to do, and leaves no file', { skip }, async (t) => {
  const { dir, qmp } = await storageDaemon(t, 'qcow2');
  const path = join(dir, 'view');
  const refused = await DiskFileView.open(qmp, { node: 'nope', prefix: 'ferry-m3-vda', path, label: 'vda=nope' }).catch((error: unknown) => error);
  t.type(refused, DiskLookupError);
  t.match(String(refused), /disk 'vda=nope' is not a raw file.*qemu-img convert -O raw/);
  t.notOk(existsSync(path), 'the empty mount file is gone');
});
