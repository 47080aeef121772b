/**
 * The soft-dirty log's pure parts (maps lines, pagemap entries to page ranges, what the marks cannot
 * vouch for) with hand-made kernel output, and its freeze with a real process: SIGSTOP is asynchronous,
 * so a freeze resolves only once every thread is stopped, and a shared stopper continues the process
 * only when its last holder lets go. The log itself needs a kernel that keeps soft-dirty bits: on this
 * one `--dirty-log auto` must hash and say why (the in-guest test covers the rest).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import {
  allThreadsStopped, chooseDirtyLogs, parseMaps, parseStat, probeSoftDirty, ProcessStopper, readWindow, regionsOfFile, regionWindow, splitDev, uncovered, unmappedSince,
} from '@ferry/agent-source';
import { until } from '../helpers/wait.js';

const MAPS = [
  '55d0c0a00000-55d0c0a21000 r--p 00000000 08:01 1234 /usr/bin/qemu',
  '7f0000000000-7f0000400000 rw-s 00000000 00:1a 777 /dev/shm/vm.ram',
  '7f0000400000-7f0000600000 rw-p 00000000 00:1a 777 /dev/shm/vm.ram',
  '7f0000600000-7f0000800000 rw-s 00600000 00:1a 777 /dev/shm/vm.ram (deleted)',
  '7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]',
].join('\n');

/** Pagemap bytes: one u64 per system page with the given bits. */
function entries(bits: ReadonlyArray<{ dirty?: boolean; present?: boolean; swapped?: boolean }>): Uint8Array {
  const bytes = new Uint8Array(bits.length * 8);
  const view = new DataView(bytes.buffer);
  bits.forEach((b, i) => {
    let value = 0n;
    if (b.dirty) value |= 1n << 55n;
    if (b.present) value |= 1n << 63n;
    if (b.swapped) value |= 1n << 62n;
    view.setBigUint64(i * 8, value, true);
  });
  return bytes;
}

t.test('maps: only the shared mappings of the same device and inode count', async (t) => {
  const regions = parseMaps(MAPS);
  t.equal(regions.length, 5);
  t.equal(regions[4]!.path, '[stack]');
  const dev = 0x1a; // major 0, minor 0x1a, as stat() encodes it
  t.same(splitDev(dev), { major: 0, minor: 0x1a });
  t.same(splitDev(Number((259n << 8n) | 3n)), { major: 259, minor: 3 });
  const mine = regionsOfFile(regions, { dev, ino: 777 });
  t.same(mine.map((r) => r.offset), [0, 0x600000], 'the private (COW) mapping is not the file; the deleted one still is');
  t.same(regionsOfFile(regions, { dev: 0x1b, ino: 777 }), [], 'another device');
});

t.test('a region maps whole image pages only, and its pagemap entries sit at its address', async (t) => {
  const [region] = parseMaps('7f0000001000-7f0000009000 rw-s 00003000 00:1a 777 /x');
  // file bytes 0x3000..0xb000 of a 0x8000-byte image, 8 KiB pages: pages 2 and 3 are whole (0x4000..0x8000)
  const window = regionWindow(region!, 0x8000, 8192, 4096)!;
  t.same({ first: window.firstPage, end: window.endPage }, { first: 2, end: 4 });
  t.equal(window.pagemapOffset, ((0x7f0000001000 + 0x1000) / 4096) * 8);
  t.equal(regionWindow(region!, 0x2000, 4096, 4096), undefined, 'a region past the image end maps none of it');
  t.same(uncovered([window], 4), [[0, 2]], 'pages no region covers are read every pass');
  t.same(uncovered([], 3), [[0, 3]]);
});

t.test('pagemap: a page is dirty when any of its system pages is; mapped when all are present or swapped', async (t) => {
  const window = { firstPage: 10, endPage: 14, pagemapOffset: 0 };
  const reading = readWindow(entries([
    { present: true }, { present: true }, // page 10: clean
    { present: true, dirty: true }, { present: true }, // page 11: dirty
    { swapped: true, dirty: true }, { present: true, dirty: true }, // page 12: dirty
    { present: true }, {}, // page 13: half unmapped
  ]), window, 2);
  t.same(reading.dirty, [[11, 13]]);
  t.same([...reading.mapped], [1, 1, 1, 0]);
  t.same(unmappedSince(Uint8Array.from([1, 1, 1, 1]), reading.mapped, 10), [[13, 14]], 'a page that went away since the last read lost its mark: dirty');
  t.same(unmappedSince(undefined, reading.mapped, 10), [], 'nothing known before: nothing lost');
});

t.test('stat: the state and start time survive a command name with spaces and parentheses', async (t) => {
  const fields = ['T', ...Array.from({ length: 18 }, (_, i) => String(i)), '4242', '99'];
  t.same(parseStat(`77 (we ird) (name) ${fields.join(' ')}`), { state: 'T', startTime: '4242' });
  t.equal(parseStat('garbage'), undefined);
});

t.test('a freeze resolves only once every thread is stopped; the last holder continues the process', async (t) => {
  // A process with several threads: node with a worker.
  const child = spawn(process.execPath, ['-e', "new (require('worker_threads').Worker)('setInterval(() => {}, 1000)', { eval: true }); setInterval(() => {}, 1000)"], { stdio: 'ignore' });
  t.teardown(() => { child.kill('SIGCONT'); child.kill('SIGKILL'); });
  const pid = child.pid!;
  await until(() => readFileSync(`/proc/${pid}/status`, 'utf8').includes('Threads:') && Number(/Threads:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) > 2, 'the child runs its threads');
  const stopper = new ProcessStopper(pid);
  await stopper.freeze();
  t.ok(allThreadsStopped(pid), 'every thread is stopped when freeze resolves');
  stopper.stop(); // a second holder (a throttle's duty cycle)
  stopper.cont();
  t.ok(allThreadsStopped(pid), 'one holder letting go does not continue it');
  stopper.cont();
  await until(() => !allThreadsStopped(pid), 'the process runs again once the last holder let go');
  t.notOk(stopper.held);
  stopper.cont();
  t.notOk(stopper.held, 'an extra cont is ignored');
});

t.test('auto hashes and says why where the kernel keeps no soft-dirty bits; hash mode never probes', async (t) => {
  const images = [{ name: 'ram', path: '/dev/null', pageSize: 4096 }];
  let probed = 0;
  const noBits = () => { probed++; return { missing: 'no bits here', systemPageSize: 4096 }; };
  t.same(chooseDirtyLogs('hash', images, { pid: process.pid }, noBits).get('ram'), { method: 'hash', reason: '--dirty-log hash' });
  t.match(chooseDirtyLogs('auto', images, undefined, noBits).get('ram'), { method: 'hash', reason: /no --dirty-pid or --qmp/ });
  t.equal(probed, 0, 'nothing to probe without a writer');
  t.same(chooseDirtyLogs('auto', images, { pid: process.pid }, noBits).get('ram'), { method: 'hash', reason: 'no bits here' });
  const real = probeSoftDirty();
  const kernel = readFileSync('/proc/version', 'utf8').trim();
  t.comment(`this kernel (${kernel}): ${real.missing ?? 'keeps soft-dirty bits'}`);
  t.ok(real.systemPageSize >= 4096 && real.systemPageSize % 4096 === 0, 'the kernel page size is read');
});
