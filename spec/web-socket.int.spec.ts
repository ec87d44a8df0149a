// The web page's socket (web/src/socket.ts), driven with the `ws` package in place of
// the browser's WebSocket, against a real server that welcomes and then closes at once.
import WebSocket from 'ws';
import { slammingServer } from './support/slamming-server';
import { ChatSocket, LinkEvent } from '../web/src/socket';

/** A ChatSocket whose link events can be awaited, each wait bounded. */
function socketOn(url: string) {
  const events: LinkEvent[] = [];
  const waiters = new Set<() => void>();
  const socket = new ChatSocket({
    url: () => url, onFrame: () => undefined, baseMs: 10, maxMs: 10_000,
    onLink: (e) => { events.push(e); for (const w of [...waiters]) w(); },
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
  });
  const until = (what: string, ok: () => boolean, ms = 5000) => new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timed out: ${what}`)); }, ms);
    const check = () => { if (ok()) { clearTimeout(timer); waiters.delete(check); resolve(); } };
    waiters.add(check);
    check();
  });
  return { socket, events, until };
}

describe('web socket against a server that welcomes and closes at once', () => {
  it('keeps counting its attempts up (and its delay doubling) instead of starting over at every welcome', async () => {
    const server = await slammingServer(1000, 5);
    const { socket, events, until } = socketOn(server.url);
    try {
      socket.start();
      await until('five drops', () => events.filter((e) => e.kind === 'dropped').length >= 5);
      const drops = events.filter((e): e is Extract<LinkEvent, { kind: 'dropped' }> => e.kind === 'dropped');
      expect(drops.slice(0, 5).map((d) => d.attempt)).toEqual([1, 2, 3, 4, 5]);
    } finally {
      socket.stop();
      await server.close();
    }
  });

  it('after a policy close it says so and waits for the user', async () => {
    const server = await slammingServer(4001, 0);
    const { socket, events, until } = socketOn(server.url);
    try {
      socket.start();
      await until('held', () => events.some((e) => e.kind === 'held'));
      expect(events.find((e) => e.kind === 'held')).toEqual({ kind: 'held', code: 4001, reason: 'go away' });
      socket.retryNow(); // what the page does when the tab comes back: not a user's decision
      // Ten times the first backoff: a socket that retried by itself would have by now.
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(server.connections()).toBe(1);
      socket.reconnect();
      await until('held again', () => events.filter((e) => e.kind === 'held').length === 2);
      expect(server.connections()).toBe(2);
    } finally {
      socket.stop();
      await server.close();
    }
  });
});
