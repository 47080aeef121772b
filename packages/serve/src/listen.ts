import type { Server } from 'node:net';

/** Where a daemon ended up listening: its port (0 asks the system for one) and the host as a URL writes it. */
export interface ListeningAddress {
  readonly port: number;
  readonly urlHost: string;
}

/** Starts `server` on host:port; rejects with the listen error (address in use, permission). */
export async function listenOn(server: Server, host: string, port: number): Promise<ListeningAddress> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    urlHost: host.includes(':') ? `[${host}]` : host,
  };
}
