/**
 * On a slow link ferry packs: whole PAGES messages compressed as one (PAGES_PACKED) instead of LZ4
 * records. With --rate-limit under 200 Mbit/s and default flags, the workload's mixed pages (text,
 * random, zero) go packed from the first batch: fewer bytes than the same migration with per-page LZ4
 * (`--compress always` on a link where packing is off) and the image arrives byte for byte.
 */
import t from 'tap';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { runMigrate, scratchDir, sha256, startTarget } from '../helpers/ferry.js';

const SIZE = 16 * 1024 * 1024;

t.test('under 200 Mbit/s a batch goes packed: fewer bytes than LZ4 records, the same image', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'mixed.ram');
  await fillImage(image, SIZE);
  const migrate = async (id: string, flags: string[]) => {
    const target = await startTarget(t, join(dir, id));
    const run = await runMigrate(t, ['--to', target.url, '--id', id, '--image', `ram=${image}`, ...flags]);
    t.equal(run.code, 0, `${id}: committed (stderr: ${run.stderr.slice(-500)})`);
    t.equal(await sha256(join(dir, id, id, 'ram')), await sha256(image), `${id}: byte-identical`);
    return run.summary;
  };
  const packed = await migrate('packed', ['--rate-limit', '16MB/s']);
  const records = Number(packed['rawBytes']) + Number(packed['lz4Bytes']) + Number(packed['deltaBytes']) + Number(packed['zeroBytes']) + Number(packed['copyBytes']);
  const saved = Number(packed['packedBytesSaved']);
  t.ok(saved > 0, `packing kept ${saved} bytes off the wire`);
  t.ok(Number(packed['bytesSent']) < records - saved / 2, `the wire carried ${packed['bytesSent']} bytes of ${records} record bytes`);
  t.equal(Number(packed['lz4Pages']), 0, 'packed records are raw: the packer compresses them better whole');

  // Per-page LZ4 on a link packing is off for (the rate is not known without pacing or --rate-limit).
  const lz4 = await migrate('lz4', ['--compress', 'always', '--no-pacing']);
  t.equal(Number(lz4['packedBytesSaved']), 0, 'nothing packed where the link rate is unknown');
  t.ok(Number(lz4['lz4Pages']) > 0, 'LZ4 records instead');
  const ratio = Number(packed['bytesSent']) / Number(lz4['bytesSent']);
  t.ok(ratio < 0.9, `packed: ${packed['bytesSent']} bytes, LZ4 records: ${lz4['bytesSent']} (${ratio.toFixed(2)}x)`);
});
