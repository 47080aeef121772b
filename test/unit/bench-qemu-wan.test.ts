import t from 'tap';
import { paced, parseWan } from '../../bench/qemu-wan.js';

t.test('--wan RATE,DELAY names the rate wan-proxy takes and the one-way delay in ms', async (t) => {
  t.same(parseWan('100mbit,20ms'), { rate: '100mbit', delayMs: 20 });
  t.same(parseWan('12MB/s,5'), { rate: '12MB/s', delayMs: 5 });
  t.throws(() => parseWan('100mbit'), /expected RATE,DELAY/);
  t.throws(() => parseWan('100mbit,fast'), /expected RATE,DELAY/);
});

t.test('the paced row runs at 90% of the link, in the link\'s own unit', async (t) => {
  t.equal(paced('100mbit'), '90mbit');
  t.equal(paced('12.5MB/s'), '11.25MB/s');
});
