/**
 * A real qemu-storage-daemon with one 16 MiB disk node `disk0` (raw or qcow2), its QMP monitor, an NBD
 * server on a unix socket, and a writable NBD export `rw` that qemu-io writes through (so QEMU's dirty
 * bitmaps see the writes). Everything goes with the test.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { QmpClient } from '@ferry/qemu';

export const MiB = 1024 * 1024;

/** Why the storage-daemon tests cannot run here, or undefined. */
export function storageDaemonMissing(): string | undefined {
  const missing = ['qemu-storage-daemon', 'qemu-io', 'qemu-img'].find((tool) => spawnSync(tool, ['--version']).status !== 0);
  return missing ? `${missing} is not installed (qemu-system-common, qemu-utils)` : undefined;
}

export async function storageDaemon(t: Test, format: 'raw' | 'qcow2' = 'raw') {
  const dir = mkdtempSync(join('/dev/shm', 'ferry-nbd-'));
  const disk = join(dir, `disk.${format}`);
  if (format === 'raw') {
    writeFileSync(disk, new Uint8Array(16 * MiB));
  } else {
    const created = spawnSync('qemu-img', ['create', '-q', '-f', 'qcow2', disk, String(16 * MiB)], { encoding: 'utf8' });
    if (created.status !== 0) throw new Error(`qemu-img create: ${created.stderr}`);
  }
  const qmpPath = join(dir, 'qmp.sock');
  const nbdSocket = join(dir, 'nbd.sock');
  const child = spawn('qemu-storage-daemon', [
    '--blockdev', `driver=file,filename=${disk},node-name=disk0-file`,
    '--blockdev', `driver=${format},file=disk0-file,node-name=disk0`,
    '--chardev', `socket,path=${qmpPath},server=on,wait=off,id=qmp0`, '--monitor', 'chardev=qmp0',
    '--nbd-server', `addr.type=unix,addr.path=${nbdSocket}`,
    '--export', 'type=nbd,id=rw,node-name=disk0,name=rw,writable=on',
  ], { stdio: 'ignore' });
  const qmp = await QmpClient.connect(qmpPath);
  t.teardown(async () => {
    await qmp.close();
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const write = (pattern: number, offset: number, length: number): void => {
    const io = spawnSync('qemu-io', ['-f', 'raw', '-c', `write -P ${pattern} ${offset} ${length}`, `nbd+unix:///rw?socket=${nbdSocket}`], { encoding: 'utf8' });
    if (io.status !== 0) throw new Error(`qemu-io: ${io.stderr}`);
  };
  return { dir, disk, qmp, nbdSocket, write };
}

export const exportsOf = async (qmp: QmpClient): Promise<string[]> =>
  (await qmp.execute<Array<{ id: string }>>('query-block-exports')).map((e) => e.id).sort();
