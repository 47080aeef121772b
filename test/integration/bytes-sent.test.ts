/**
 * One accounting path for bytesSent: the summary's figure is exactly the message bytes that went through
 * the socket, as a proxy that parses the WebSocket frames counts them (the rest is the HTTP upgrade and
 * frame headers, accounted for byte by byte).
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fillImage } from '@ferry/workload';
import { CountingProxy } from '../helpers/counting-proxy.js';
import { runMigrate, scratchDir, startTarget } from '../helpers/ferry.js';

t.test('the summary\'s bytesSent equals the bytes that reached the socket', async (t) => {
  const dir = scratchDir(t);
  const image = join(dir, 'vm.ram');
  await fillImage(image, 8 * 1024 * 1024, { seed: 17 });
  const blob = join(dir, 'cpu');
  writeFileSync(blob, Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  const target = await startTarget(t, join(dir, 'target'));
  const proxy = await CountingProxy.start(target.url);
  t.teardown(() => proxy.close());
  const run = await runMigrate(t, [
    '--to', proxy.url, '--id', 'counted', '--image', `ram=${image}`, '--state', `cpu=${blob}`, '--pause-cmd', 'true',
    '--state-cmd', 'head -c 100000 /dev/zero > "$FERRY_STATE_DIR/devices"',
  ]);
  t.equal(run.code, 0, `committed (stderr: ${run.stderr.slice(-500)})`);
  await proxy.idle();
  const { bytes } = proxy;
  t.equal(Number(run.summary['bytesSent']), bytes.dataPayload, 'bytesSent is exactly the message bytes the proxy saw');
  t.equal(bytes.total, bytes.upgrade + bytes.frameHeaders + bytes.dataPayload + bytes.controlPayload,
    'and everything else on the wire is the upgrade request and WebSocket framing');
  t.ok(bytes.upgrade > 0 && bytes.upgrade < 1024, `the upgrade request is small (${bytes.upgrade} bytes)`);
});
