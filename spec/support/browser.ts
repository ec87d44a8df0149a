// Helpers for the browser specs: Debian's Chromium driven by playwright-core, one
// browser per spec file, one context per person (so each has its own storage),
// a plain `ws` peer that speaks the protocol beside the pages, and a TCP proxy
// that plays a network a test can cut.
import { existsSync } from 'node:fs';
import net from 'node:net';
import { Browser, BrowserContextOptions, Locator, Page, chromium } from 'playwright-core';
import WebSocket from 'ws';

export const CHROMIUM = '/usr/bin/chromium';
export const hasChromium = (): boolean => existsSync(CHROMIUM);

/** Bounded waits: long enough for a loaded 2-core machine, short enough to fail fast. */
export const WAIT = 7_000;

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** One person at the web client: their page, and what went wrong on it. */
export interface Person {
  page: Page;
  /** alert()/confirm() dialogs that fired: there must never be any. */
  dialogs: string[];
  /** Uncaught exceptions in the page. */
  errors: string[];
  close(): Promise<void>;
}

export async function openPerson(browser: Browser, url: string, options: BrowserContextOptions = {}): Promise<Person> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 760 }, ...options });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  const person: Person = { page, dialogs: [], errors: [], close: () => context.close() };
  page.on('dialog', (d) => {
    person.dialogs.push(`${d.type()}: ${d.message()}`);
    void d.dismiss();
  });
  page.on('pageerror', (e) => person.errors.push(e.message));
  await page.goto(url);
  return person;
}

// The page's landmarks, by role and accessible name where they have one.
export const ui = {
  messages: (p: Page): Locator => p.getByRole('log', { name: 'Messages' }),
  /** One chat line, by a piece of its text. */
  line: (p: Page, text: string): Locator => ui.messages(p).locator('li.msg').filter({ hasText: text }),
  notice: (p: Page, text: string): Locator => ui.messages(p).locator('li.notice').filter({ hasText: text }),
  title: (p: Page): Locator => p.locator('#thread-id .thread-title'),
  members: (p: Page): Locator => p.locator('#members'),
  member: (p: Page, name: string): Locator => p.locator('#members .member-name').getByText(name, { exact: true }),
  myRoom: (p: Page, room: string): Locator => p.locator('#my-rooms .nav-item').filter({ has: p.locator('.nav-name').getByText(room, { exact: true }) }),
  dm: (p: Page, name: string): Locator => p.locator('#dms .nav-item').filter({ has: p.locator('.nav-name').getByText(name, { exact: true }) }),
  otherRoom: (p: Page, room: string): Locator => p.locator('#public-rooms .nav-item').filter({ has: p.locator('.nav-name').getByText(room, { exact: true }) }),
  composer: (p: Page): Locator => p.getByRole('textbox', { name: 'Message' }),
  banner: (p: Page): Locator => p.locator('#banner'),
};

/** Types a message and presses Enter. */
export async function say(p: Page, text: string): Promise<void> {
  await ui.composer(p).fill(text);
  await ui.composer(p).press('Enter');
}

/** Joins (or creates) a room from the sidebar and waits until it is on screen. */
export async function joinRoom(p: Page, room: string): Promise<void> {
  const input = p.getByRole('textbox', { name: 'Join or create a room' });
  await input.fill(room);
  await input.press('Enter');
  await ui.title(p).filter({ hasText: room }).waitFor();
}

export interface Frame {
  ID: string;
  Content: string;
  SentAt: number;
  Type: number;
  [field: string]: unknown;
}

/** A protocol client beside the pages (a seed-style peer, or a bot). */
export class Peer {
  readonly frames: Frame[] = [];
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];
  id = '';

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as Frame;
      this.frames.push(f);
      if (f.Type === 0 && f.Content === 'welcome') this.id = f.ID;
      this.waiters = this.waiters.filter((w) => (w.match(f) ? (w.resolve(f), false) : true));
    });
  }

  /** Connects and waits for the Join of the first room. */
  static async connect(wsUrl: string, name: string, room: string): Promise<Peer> {
    const peer = new Peer(new WebSocket(`${wsUrl}?name=${encodeURIComponent(name)}&room=${encodeURIComponent(room)}`));
    await peer.next((f) => f.Type === 6 && f.Room === room);
    return peer;
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** The first frame (already received or still to come) that matches. */
  next(match: (f: Frame) => boolean, ms = WAIT): Promise<Frame> {
    const seen = this.frames.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching frame within ${ms} ms; got ${JSON.stringify(this.frames.slice(-5))}`)), ms);
      this.waiters.push({ match, resolve: (f) => { clearTimeout(timer); resolve(f); } });
    });
  }

  /** The ID of a member of a room, as a Join or Members frame told us. */
  async idOf(name: string, room: string): Promise<string> {
    this.send({ Type: 9, Room: room, Ref: `who-${name}` });
    const f = await this.next((x) => x.Type === 9 && x.Ref === `who-${name}`);
    const m = (f.Members as { ID: string; Name: string }[]).find((x) => x.Name === name);
    if (!m) throw new Error(`${name} is not in ${room}`);
    return m.ID;
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((resolve) => {
      this.ws.once('close', () => resolve());
      this.ws.close(1000);
    });
  }
}

/**
 * The page's network: a TCP proxy in front of the server that a test can cut (every
 * connection through it reset, new ones refused) and bring back, while the server,
 * its identities and their resume tokens live on. Chromium's setOffline does not cut
 * an open WebSocket; this does, as a Wi-Fi drop would. `muteReplies` stops passing
 * what the server says (its Acks too) on the connections open now, while the page's
 * frames still get through: a link that dies between a line reaching the server and
 * its Ack reaching the page. New connections (a reload) pass as usual.
 */
export async function flakyNetwork(target: number) {
  const open = new Set<net.Socket>();
  const muted = new WeakSet<net.Socket>();
  let up = true;
  const server = net.createServer((page) => {
    if (!up) {
      page.destroy();
      return;
    }
    const upstream = net.connect(target, '127.0.0.1');
    open.add(page);
    const end = () => {
      page.destroy();
      upstream.destroy();
      open.delete(page);
    };
    page.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => { if (!muted.has(page)) page.write(d); });
    page.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    base: `http://127.0.0.1:${port}`,
    /** Resets every connection through it and refuses new ones. */
    cut(): void {
      up = false;
      for (const s of [...open]) s.destroy();
    },
    restore(): void {
      up = true;
    },
    muteReplies(): void {
      for (const s of open) muted.add(s);
    },
    close(): Promise<void> {
      this.cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
