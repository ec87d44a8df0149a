// The protocol client of the chat CLI and the bots (scripts/lib/client.ts) against a
// real `ws` server that welcomes and then closes at once: it must back off, not loop,
// and after a policy close it must wait for the user.
import { firstValueFrom, filter, take, toArray, timeout } from 'rxjs';
import { slammingServer } from './support/slamming-server';
import { ChatClient, ClientEvent } from '../scripts/lib/client';

type Down = Extract<ClientEvent, { kind: 'down' }>;

describe('protocol client against a server that accepts and closes at once', () => {
  const clients: ChatClient[] = [];
  afterEach(async () => { await Promise.all(clients.splice(0).map((c) => c.close())); });

  it('keeps doubling its delay instead of starting over at every welcome', async () => {
    // 20 ms: long enough for the client to be welcomed and ready, far shorter than a stable link.
    const server = await slammingServer(1000, 20);
    try {
      const client = new ChatClient({
        url: server.url, name: 'x', rooms: ['lobby'], backoff: { baseMs: 10, maxMs: 10_000 }, heartbeatMs: 0, retryFirst: true,
      });
      clients.push(client);
      const downs = firstValueFrom(client.events$.pipe(
        filter((e): e is Down => e.kind === 'down'), take(5), toArray(), timeout(5000)));
      await client.start();
      const delays = (await downs).map((d) => d.retryInMs as number);
      // Jitter is ±25 %, so each doubled delay is above every possible value of the one before.
      for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThan(delays[i - 1]);
      expect(delays[4]).toBeGreaterThanOrEqual(120); // 10 ms · 2^4 · 0.75
    } finally {
      await server.close();
    }
  });

  it('after a policy close it waits for reconnectNow(), then connects once', async () => {
    const server = await slammingServer(4001);
    try {
      const client = new ChatClient({
        url: server.url, name: 'x', rooms: ['lobby'], backoff: { baseMs: 5, maxMs: 20 }, heartbeatMs: 0, retryFirst: true,
      });
      clients.push(client);
      const held = firstValueFrom(client.events$.pipe(filter((e): e is Down => e.kind === 'down'), timeout(5000)));
      await expect(client.start()).rejects.toMatchObject({ code: 'held' });
      expect(await held).toMatchObject({ code: 4001, held: true });
      expect((await held).retryInMs).toBeUndefined();
      await expect(client.whenReady(1000)).rejects.toMatchObject({ code: 'held' });
      // Ten times the longest backoff: a client that retried by itself would have by now.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(server.connections()).toBe(1);
      const again = firstValueFrom(client.events$.pipe(filter((e) => e.kind === 'down'), timeout(5000)));
      expect(client.reconnectNow()).toBe(true);
      await again;
      expect(server.connections()).toBe(2);
    } finally {
      await server.close();
    }
  });
});
