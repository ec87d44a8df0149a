// The client library as the chat CLI and the bots run it (scripts/lib/client.ts: the
// `ws` socket) against a real `ws` server that welcomes and then closes at once: it
// must back off, not loop, and after a policy close it must wait for the user.
import { ChatClient, Clock, LinkState } from '../src/client';
import { nodeClient } from '../scripts/lib/client';
import { slammingServer } from './support/slamming-server';

type Down = Extract<LinkState, { state: 'down' }>;

/** The real clock, remembering the time of the input being stepped, so a delay reads retryAt - at exactly. */
function watchedClock(): Clock & { last: number } {
  const c = {
    last: 0,
    now: () => { c.last = Date.now(); return c.last; },
    setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms),
    clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
  };
  return c;
}

/** The next n 'down' links, each with its delay (ms), bounded. */
function downs(client: ChatClient, clock: { last: number }, n: number, ms = 5000): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const delays: number[] = [];
    const timer = setTimeout(() => { stop(); reject(new Error(`only ${delays.length} downs`)); }, ms);
    const stop = client.on('link', ({ link }) => {
      if (link.state !== 'down') return;
      delays.push((link as Down).retryAt - clock.last);
      if (delays.length === n) { clearTimeout(timer); stop(); resolve(delays); }
    });
  });
}

describe('client library on ws, against a server that accepts and closes at once', () => {
  const clients: ChatClient[] = [];
  afterEach(() => { for (const c of clients.splice(0)) c.close(); });

  it('keeps doubling its delay instead of starting over at every welcome', async () => {
    // 20 ms: long enough for the client to be welcomed and ready, far shorter than a stable link.
    const server = await slammingServer(1000, 20);
    try {
      const clock = watchedClock();
      // random 0.5: the jitter's middle, so each delay is the exponential itself.
      const client = nodeClient({
        url: server.url, name: 'x', rooms: ['lobby'], backoff: { baseMs: 10, maxMs: 10_000 }, clock, random: () => 0.5,
      });
      clients.push(client);
      const five = downs(client, clock, 5);
      client.start();
      await client.whenReady(5000);
      expect(await five).toEqual([10, 20, 40, 80, 160]);
      expect(server.connections()).toBeGreaterThanOrEqual(5);
    } finally {
      await server.close();
    }
  });

  it('after a policy close it waits for reconnect(), then connects once', async () => {
    const server = await slammingServer(4001);
    try {
      const client = nodeClient({ url: server.url, name: 'x', rooms: ['lobby'], backoff: { baseMs: 5, maxMs: 20 } });
      clients.push(client);
      const links: LinkState[] = [];
      client.on('link', (e) => links.push(e.link));
      client.start();
      await client.whenReady(5000);
      // The welcome came, then the close: held, no retry timer.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(links.at(-1)).toEqual({ state: 'held', code: 4001, reason: 'go away' });
      await expect(client.whenReady(1000)).rejects.toMatchObject({ code: 'held' });
      // Ten times the longest backoff: a client that retried by itself would have by now.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(server.connections()).toBe(1);
      client.reconnect();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(server.connections()).toBe(2);
      expect(links.filter((l) => l.state === 'held')).toHaveLength(2);
    } finally {
      await server.close();
    }
  });
});
