/**
 * A TCP port that is free on loopback right now, for rendezvous ports of local test and benchmark
 * worlds. Another process may take it before it is bound: callers that cannot tolerate that bind
 * with port 0 instead.
 *
 * `freePort()` lets the kernel pick, from its ephemeral range: fine when the port is bound at once.
 * `quietPort()` picks at random below that range, where the kernel never hands out ports to
 * bind(0) or connect(): for a port bound seconds later (shrink's new rendezvous), since a port
 * the kernel just picked is soon picked again for another process's ZeroMQ socket on a busy host.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return await listenOn(host, 0);
}

/** A free port below the ephemeral range (Linux: ip_local_port_range), chosen at random. */
export async function quietPort(host = '127.0.0.1'): Promise<number> {
  let low = 32768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    // not Linux: the usual default
  }
  const floor = 10_000;
  if (low - floor < 1000) return await freePort(host);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = floor + Math.floor(Math.random() * (low - floor));
    const got = await listenOn(host, port).catch(() => 0);
    if (got !== 0) return got;
  }
  return await freePort(host);
}

async function listenOn(host: string, port: number): Promise<number> {
  return await new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(port, host, () => {
      const addr = srv.address();
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : 0));
    });
  });
}
