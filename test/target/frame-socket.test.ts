/**
 * FrameSocket on a real TCP connection: when its session pauses it, no message is handed out (the rest of
 * a chunk already read waits, and the socket stops being read) until it is resumed, and then every
 * message comes, in order.
 */
import t from 'tap';
import { createServer, connect, type Socket } from 'node:net';
import { FrameSocket } from '@ferry/agent-target';
import { until } from '../helpers/wait.js';
import { clientFrame, Op } from '../helpers/ws-frame.js';

t.test('a paused FrameSocket hands out nothing until it is resumed', async (t) => {
  const received: number[] = [];
  let frames: FrameSocket | undefined;
  let serverSide: Socket | undefined;
  const server = createServer((socket) => {
    serverSide = socket;
    frames = new FrameSocket(socket, Buffer.alloc(0), 1 << 20, {
      message: (data) => {
        received.push(data[0]!);
        if (received.length === 1) frames!.pause();
      },
      refused: (code, reason) => t.fail(`refused ${code}: ${reason}`),
      closed: () => {},
      error: () => {},
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  t.teardown(() => client.destroy());
  await new Promise((resolve) => client.once('connect', resolve));
  const batch = (from: number): Buffer => Buffer.concat(Array.from({ length: 5 }, (_, i) => clientFrame(Op.Binary, Uint8Array.of(from + i, 0, 0))));

  client.write(batch(0)); // one chunk: the other four wait in the reader
  await until(() => received.length === 1, 'the first message');
  client.write(batch(5));
  await until(() => (serverSide?.readableLength ?? 0) > 0, 'the second batch waiting in the paused socket');
  t.same(received, [0], 'nothing more while paused, though ten more messages were there');
  frames!.resume();
  await until(() => received.length === 10, 'every message after the resume');
  t.same(received, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'in order');
});
