import { once } from 'node:events';
import { connect } from 'node:net';

/** Round trips (ms) of a 1-byte ping to an echo server behind `port` on loopback, sorted fastest first. */
export async function roundTrips(port: number, samples: number): Promise<number[]> {
  const socket = connect({ port, host: '127.0.0.1', noDelay: true });
  await once(socket, 'connect');
  const times: number[] = [];
  for (let i = 0; i < samples; i += 1) {
    const start = performance.now();
    socket.write('x');
    await once(socket, 'data');
    times.push(performance.now() - start);
  }
  socket.destroy();
  return times.sort((a, b) => a - b);
}
