/**
 * A TCP port that is free on loopback right now (the kernel picks it), for rendezvous ports of
 * local test and benchmark worlds. Another process may take it before it is bound: callers that
 * cannot tolerate that bind with port 0 instead.
 */
import { createServer } from 'node:net';

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
}
