// The web page's link: the client library's ChatClient as web/src/main.ts makes it
// (the page's name and room, no other options but a short first backoff here), with the
// `ws` package in place of the browser's WebSocket, against a real server that
// welcomes and then closes at once.
import WebSocket from 'ws';
import { ChatClient, LinkState, SocketClass } from '../src/client';
import { slammingServer } from './support/slamming-server';

/** A client whose link states can be awaited, each wait bounded. */
function clientOn(url: string) {
  const links: LinkState[] = [];
  const waiters = new Set<() => void>();
  const client = new ChatClient({
    url, WebSocket: WebSocket as unknown as SocketClass, name: 'alice', rooms: ['lobby'], backoff: { baseMs: 10, maxMs: 10_000 },
  });
  client.on('link', (e) => { links.push(e.link); for (const w of [...waiters]) w(); });
  const until = (what: string, ok: () => boolean, ms = 5000) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out: ${what}`)); }, ms);
    const check = () => { if (ok()) { clearTimeout(timer); waiters.delete(check); resolve(); } };
    waiters.add(check);
    check();
  });
  return { client, links, until };
}

describe('web page link against a server that welcomes and closes at once', () => {
  it('keeps counting its attempts up (and its delay doubling) instead of starting over at every welcome', async () => {
    const server = await slammingServer(1000, 5);
    const { client, links, until } = clientOn(server.url);
    try {
      client.start();
      await until('five drops', () => links.filter((l) => l.state === 'down').length >= 5);
      const drops = links.filter((l): l is Extract<LinkState, { state: 'down' }> => l.state === 'down');
      expect(drops.slice(0, 5).map((d) => d.attempt)).toEqual([1, 2, 3, 4, 5]);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('after a policy close it says so and waits for the user (the banner\'s Reconnect)', async () => {
    const server = await slammingServer(4001, 0);
    const { client, links, until } = clientOn(server.url);
    try {
      client.start();
      await until('held', () => links.some((l) => l.state === 'held'));
      expect(links.find((l) => l.state === 'held')).toEqual({ state: 'held', code: 4001, reason: 'go away' });
      client.retryNow(); // what the page does when the network or the tab comes back: not a user's decision
      // Ten times the first backoff: a client that retried by itself would have by now.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(server.connections()).toBe(1);
      client.reconnect();
      await until('held again', () => links.filter((l) => l.state === 'held').length === 2);
      expect(server.connections()).toBe(2);
    } finally {
      client.close();
      await server.close();
    }
  });
});
