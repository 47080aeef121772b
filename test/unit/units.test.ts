import t from 'tap';
import { formatBytes, parseCount, parseDuration, parseRate, parseSize, UnitError } from '../../cli/src/units.js';
import { UsageError } from '../../cli/src/usage.js';

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

t.test('parseDuration: a number in the option unit, or with an ms or s suffix, in milliseconds', async (t) => {
  const cases: Array<[string, 's' | 'ms', number]> = [
    ['30', 's', 30_000], ['1.5', 's', 1500], ['500ms', 's', 500], ['2s', 's', 2000], [' 2 S ', 's', 2000],
    ['300', 'ms', 300], ['0.5', 'ms', 0.5], ['2s', 'ms', 2000], ['250MS', 'ms', 250],
  ];
  for (const [text, unit, ms] of cases) t.equal(parseDuration(text, '--x', unit), ms, `${text} (${unit})`);
  t.equal(parseDuration('0', '--x', 's', { allowZero: true }), 0, 'zero where allowed');
  t.equal(parseDuration('0ms', '--x', 'ms', { allowZero: true }), 0, 'zero with a suffix where allowed');
});

t.test('parseDuration rejects garbage, negatives, and zero unless allowed, naming the option', async (t) => {
  for (const text of ['', ' ', 'soon', '-1', '+1', '1e3', '0x10', '.5', '5.', '1 2', '3m', '3h', '10sec', 's', 'ms', 'NaN', 'Infinity']) {
    t.throws(() => parseDuration(text, '--timeout', 's'), {
      name: 'UnitError',
      message: `invalid --timeout "${text}": use a positive number of seconds, or add ms or s, e.g. 30, 1.5, 500ms`,
    }, JSON.stringify(text));
  }
  t.throws(() => parseDuration('0', '--timeout', 's'), { name: 'UnitError', message: /^invalid --timeout "0": use a positive number of seconds/ });
  t.throws(() => parseDuration('0ms', '--max-downtime', 'ms'), { message: /^invalid --max-downtime "0ms": use a positive number of milliseconds, or add ms or s, e.g. 300, 2s$/ });
  t.throws(() => parseDuration('-5', '--delay', 'ms', { allowZero: true }), { message: /^invalid --delay "-5": use a number of milliseconds >= 0/ });
  t.throws(() => parseDuration('x', '--resume-grace', 's', { allowZero: true }), { message: /^invalid --resume-grace "x": use a number of seconds >= 0/ });
  t.ok((() => { try { parseDuration('x', '--x', 's'); } catch (e) { return e instanceof UsageError; } return false; })(), 'a UsageError (exit 2)');
});

t.test('parseCount: whole numbers in a range', async (t) => {
  t.equal(parseCount('4', '--workers'), 4);
  t.equal(parseCount(' 12 ', '--workers'), 12);
  t.equal(parseCount('0', '--seed', 0, 0xffff_ffff), 0);
  t.equal(parseCount('4294967295', '--seed', 0, 0xffff_ffff), 4_294_967_295);
});

t.test('parseCount rejects fractions, signs, units and numbers out of range, naming the option', async (t) => {
  for (const text of ['', 'four', '0', '-1', '+1', '1.5', '1e3', '0x10', '2k', '1 2', '99999999999999999999']) {
    t.throws(() => parseCount(text, '--workers'), { name: 'UnitError', message: `invalid --workers "${text}": use a whole number >= 1` }, JSON.stringify(text));
  }
  t.throws(() => parseCount('4294967296', '--seed', 0, 0xffff_ffff), { message: 'invalid --seed "4294967296": use a whole number from 0 to 4294967295' });
  t.throws(() => parseCount('-1', '--seed', 0, 0xffff_ffff), { message: 'invalid --seed "-1": use a whole number from 0 to 4294967295' });
});
