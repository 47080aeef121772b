import t from 'tap';
import { formatBytes, parseRate, parseSize, UnitError } from '../../cli/src/units.js';

t.test('parseSize accepts plain bytes, SI and IEC units, any case, with spaces', async (t) => {
  const cases: Array<[string, number]> = [
    ['4096', 4096], ['0', 0], ['512b', 512], ['512B', 512],
    ['256MiB', 256 * 2 ** 20], ['1GiB', 2 ** 30], ['2tib', 2 * 2 ** 40], ['64KiB', 65_536], ['1.5KiB', 1536],
    ['64m', 64e6], ['64MB', 64e6], ['12kb', 12_000], ['3k', 3000], ['1G', 1e9], ['2TB', 2e12],
    [' 12 kb ', 12_000], ['0.5GiB', 2 ** 29],
  ];
  for (const [text, bytes] of cases) t.equal(parseSize(text), bytes, text);
});

t.test('parseSize rejects garbage with a clear error', async (t) => {
  for (const text of ['', ' ', 'abc', 'MiB', '12XB', '-5', '+5', '1e3', '0x10', '1..2', '.5', '5.', '12 MiB/s', '1 2', '12mbit', 'NaN']) {
    t.throws(() => parseSize(text), {
      name: 'UnitError',
      message: `invalid size "${text}": use a number with an optional unit, e.g. 4096, 256MiB, 1GiB`,
    }, JSON.stringify(text));
  }
  t.throws(() => parseSize('lots', '--delta-cache'), { message: /^invalid --delta-cache "lots"/ }, 'names the option');
  t.throws(() => parseSize('99999999999TiB'), { name: 'UnitError', message: 'size "99999999999TiB" is too large' });
  t.ok((() => { try { parseSize('x'); } catch (e) { return e instanceof UnitError && e instanceof Error; } return false; })(), 'a UnitError');
});

t.test('parseRate: bit units to bytes per second, byte units with optional /s', async (t) => {
  const cases: Array<[string, number]> = [
    ['100mbit', 12_500_000], ['1gbit', 125_000_000], ['10kbit', 1250], ['8bit', 1], ['1Gbit', 125_000_000],
    ['12MB/s', 12e6], ['12mb/s', 12e6], ['12MB', 12e6], ['512KiB/s', 524_288], ['16MiB/s', 16 * 2 ** 20],
    ['1000000', 1e6], ['1000000/s', 1e6], [' 2.5MiB/s ', 2.5 * 2 ** 20], ['1GiB/s', 2 ** 30],
  ];
  for (const [text, bytesPerSec] of cases) t.equal(parseRate(text), bytesPerSec, text);
});

t.test('parseRate: tc spellings bps/kbps/mbps/gbps are BYTES per second', async (t) => {
  // tc(8), RATES: "bps Bytes per second, kbps Kilobytes per second, mbps Megabytes per second".
  // units.ts says bit units "follow tc's spelling" but maps these four to bits: an 8x error.
  // tc(8) spelling: bps is bytes per second.
  t.equal(parseRate('100mbps'), 100e6, '100mbps');
  t.equal(parseRate('64kbps'), 64e3, '64kbps');
  t.equal(parseRate('1gbps'), 1e9, '1gbps');
  t.equal(parseRate('800bps'), 800, '800bps');
});

t.test('parseRate rejects garbage with a clear error', async (t) => {
  for (const text of ['', 'fast', 'mbit', '-1mbit', '100 furlongs', '100mbit/s', '12MB/h', '12MB//s', '1e6', '0x10/s', '/s']) {
    t.throws(() => parseRate(text), {
      name: 'UnitError',
      message: `invalid rate "${text}": use e.g. 100mbit, 1gbit, 12MB/s, 512KiB/s`,
    }, JSON.stringify(text));
  }
  t.throws(() => parseRate('soon', '--rate-limit'), { message: /^invalid --rate-limit "soon"/ }, 'names the option');
});

t.test('formatBytes picks a binary unit and one decimal under 100', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0 B'], [1, '1 B'], [1023, '1023 B'], [1024, '1.0 KiB'], [1536, '1.5 KiB'], [100 * 1024, '100 KiB'],
    [256 * 2 ** 20, '256 MiB'], [2 ** 30, '1.0 GiB'], [1.25 * 2 ** 30, '1.3 GiB'], [3 * 2 ** 40, '3.0 TiB'],
    [2 ** 50, '1024 TiB'], [-2048, '-2.0 KiB'],
  ];
  for (const [bytes, text] of cases) t.equal(formatBytes(bytes), text, String(bytes));
  for (const n of [4096, 256 * 2 ** 20, 2 ** 30]) t.equal(parseSize(formatBytes(n).replace(' ', '')), n, `${n} round-trips`);
});
