// The web page's history and resume (issue 7), end to end in headless Chromium against
// the real server: a room opens with its latest lines and scrolling up reads older
// ones; a reload keeps the conversation and the identity; after a network blip the
// page resumes, shows what it missed in order and once, and a line typed offline (or
// one whose Ack was lost) is delivered once. The network is a TCP proxy the spec cuts
// (support/browser.ts, flakyNetwork), so the server and its resume tokens live on.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { buildWeb } from '../scripts/build-web';
import { ChatServer, startServer } from '../src/edge/server';
import { Peer, Person, WAIT, flakyNetwork, hasChromium, launchBrowser, openPerson, say, ui } from './support/browser';
import { BURSTS } from './support/limits';

const chromium = hasChromium();
if (!chromium) console.warn('Chromium not found at /usr/bin/chromium: browser tests skipped');

/** The text of every chat line on screen, top to bottom. */
const texts = (p: Page): Promise<string[]> =>
  p.evaluate(`[...document.querySelectorAll('#messages li.msg .text')].map((t) => t.textContent)`) as Promise<string[]>;

/** A line of ours in a given state (data-status: pending, sent, delivered, failed). */
const mine = (p: Page, text: string, status: string) => ui.line(p, text).and(p.locator(`.mine[data-status="${status}"]`));

(chromium ? describe : describe.skip)('web client history and resume in Chromium', () => {
  jest.setTimeout(30_000);
  let tmp: string;
  let server: ChatServer;
  let browser: Browser;
  let base: string;
  let network: Awaited<ReturnType<typeof flakyNetwork>>;
  const people: Person[] = [];
  const peers: Peer[] = [];

  const person = async (url: string) => {
    const p = await openPerson(browser, url);
    people.push(p);
    return p;
  };
  const peer = async (name: string, room: string) => {
    const p = await Peer.connect(server.url, name, room);
    peers.push(p);
    return p;
  };
  /** A peer's line, sent and acked (so it is in the log). */
  const line = async (p: Peer, text: string, ref: string) => {
    p.send({ Type: 1, Content: text, Ref: ref });
    await p.next((f) => f.Type === 12 && f.Ref === ref);
  };
  /** How many times a peer received a line with this text. */
  const received = (p: Peer, text: string) => p.frames.filter((f) => f.Type === 1 && f.Content === text).length;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'rxchat-web-history-'));
    const webRoot = (await buildWeb(path.join(tmp, 'web'))).outDir;
    // The default resume window: a page that drops keeps its identity for 5 minutes.
    [server, browser] = await Promise.all([startServer({ port: 0, host: '127.0.0.1', logLevel: 'silent', webRoot, ...BURSTS }), launchBrowser()]);
    base = `http://127.0.0.1:${server.port}`;
    network = await flakyNetwork(server.port);
  });

  afterAll(async () => {
    await Promise.all(peers.map((p) => p.close()));
    await Promise.all(people.map((p) => p.close()));
    await browser?.close();
    await network?.close();
    await server?.close(500);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  afterEach(() => {
    for (const p of people) {
      expect(p.dialogs).toEqual([]);
      expect(p.errors).toEqual([]);
    }
  });

  it('a room opens with its latest 50 lines; scrolling up reads older pages, one at a time, to the start', async () => {
    const ben = await peer('ben', 'archive');
    for (let i = 1; i <= 120; i++) ben.send({ Type: 1, Content: `archived line ${i}`, Ref: `a${i}` });
    await ben.next((f) => f.Type === 12 && f.Ref === 'a120');
    const ana = await person(`${base}/?name=ana&room=archive`);
    const archived = (n: number) => Array.from({ length: n }, (_, i) => `archived line ${120 - n + 1 + i}`);

    await ui.line(ana.page, 'archived line 120').waitFor();
    await expect(texts(ana.page)).resolves.toEqual(archived(50));
    // At the newest line, as a room opens.
    expect(await ana.page.evaluate(`(() => { const s = document.getElementById('scroller'); return s.scrollHeight - s.scrollTop - s.clientHeight; })()`)).toBeLessThan(4);

    const top = ana.page.locator('#history-state');
    await ana.page.evaluate(`document.getElementById('scroller').scrollTop = 0`);
    await ui.line(ana.page, 'archived line 21').waitFor();
    await top.getByText('Loading').waitFor({ state: 'detached' });
    // One page, and the reader stays where they were: the line that was at the top is still on screen.
    await expect(texts(ana.page)).resolves.toEqual(archived(100));
    expect(await ana.page.evaluate(`document.getElementById('scroller').scrollTop`)).toBeGreaterThan(150);

    await ana.page.evaluate(`document.getElementById('scroller').scrollTop = 0`);
    await top.getByText('This is the start of #archive').waitFor();
    await expect(texts(ana.page)).resolves.toEqual(archived(120));
    // One run of ben's lines, pages joined without a seam: his name and avatar once, at its top.
    await expect(ana.page.locator('#messages li.msg .author').count()).resolves.toBe(1);
    await expect(ana.page.locator('#messages li.msg .avatar').count()).resolves.toBe(1);
  });

  it('a reload keeps the conversation: the same ID, the history, the direct messages, and what came meanwhile', async () => {
    const cy = await peer('cy', 'reload');
    const dee = await person(`${base}/?name=dee&room=reload`);
    await ui.member(dee.page, 'cy').waitFor();
    await say(dee.page, 'first from dee');
    await say(dee.page, 'second from dee');
    await mine(dee.page, 'second from dee', 'delivered').waitFor();
    await line(cy, 'cy answers', 'c1');
    await ui.line(dee.page, 'cy answers').waitFor();
    const id = await cy.idOf('dee', 'reload');
    cy.send({ Type: 11, To: id, Content: 'a word in private' });
    await dee.page.getByRole('button', { name: 'cy, 1 unread' }).waitFor();

    await dee.page.reload();
    await ui.line(dee.page, 'cy answers').waitFor();
    await expect(texts(dee.page)).resolves.toEqual(['first from dee', 'second from dee', 'cy answers']);
    // Ours are still ours (on the right, "You"): the resumed identity is the one that sent them.
    await expect(ui.line(dee.page, 'first from dee').locator('.author').textContent()).resolves.toBe('You');
    await expect(cy.idOf('dee', 'reload')).resolves.toBe(id);
    await ui.member(dee.page, 'cy').waitFor();
    await expect(ui.members(dee.page).locator('li').count()).resolves.toBe(2);
    await ui.dm(dee.page, 'cy').click();
    await ui.line(dee.page, 'a word in private').waitFor();

    // Away and back (a new page load, not the back/forward cache): what was said meanwhile is there, once, in order.
    await ui.myRoom(dee.page, 'reload').click();
    const url = dee.page.url();
    await dee.page.goto('about:blank');
    await line(cy, 'while dee was away', 'c2');
    await dee.page.goto(url);
    await ui.line(dee.page, 'while dee was away').waitFor();
    await expect(texts(dee.page)).resolves.toEqual(['first from dee', 'second from dee', 'cy answers', 'while dee was away']);
    await expect(cy.idOf('dee', 'reload')).resolves.toBe(id);
  });

  it('after a network blip the page resumes: the same ID, the missed lines in order and once; a line typed offline goes once', async () => {
    const eve = await peer('eve', 'blip');
    const fay = await person(`${network.base}/?name=fay&room=blip`);
    await ui.member(fay.page, 'eve').waitFor();
    const id = await eve.idOf('fay', 'blip');
    await say(fay.page, 'before the blip');
    await mine(fay.page, 'before the blip', 'delivered').waitFor();

    network.cut();
    await ui.banner(fay.page).getByText('Reconnecting').waitFor();
    for (const n of [1, 2, 3]) await line(eve, `missed ${n}`, `m${n}`);
    await say(fay.page, 'typed offline');
    await mine(fay.page, 'typed offline', 'pending').getByText('Will be sent when the connection is back').waitFor();

    network.restore();
    // What the browser says when the network is back: the page tries at once rather than after its backoff.
    await fay.page.evaluate(`window.dispatchEvent(new Event('online'))`);
    await ui.banner(fay.page).waitFor({ state: 'hidden', timeout: 15_000 });
    await mine(fay.page, 'typed offline', 'delivered').waitFor();
    // The missed lines came before ours: the server had them first.
    await expect(texts(fay.page)).resolves.toEqual(['before the blip', 'missed 1', 'missed 2', 'missed 3', 'typed offline']);
    await expect(eve.idOf('fay', 'blip')).resolves.toBe(id);
    await ui.notice(fay.page, 'Reconnected').waitFor();

    // Once at eve's, too: a later line has come after it, and it came only once.
    await say(fay.page, 'after the blip');
    await eve.next((f) => f.Type === 1 && f.Content === 'after the blip');
    expect(received(eve, 'typed offline')).toBe(1);
  });

  it('a line whose Ack was lost with the link goes again with its Key and is shown once (a blip, then a reload)', async () => {
    const gus = await peer('gus', 'acks');
    const hal = await person(`${network.base}/?name=hal&room=acks`);
    await ui.member(hal.page, 'gus').waitFor();

    // The server gets the line, but its Ack never reaches the page.
    network.muteReplies();
    await say(hal.page, 'is this acked?');
    await gus.next((f) => f.Type === 1 && f.Content === 'is this acked?');
    await mine(hal.page, 'is this acked?', 'sent').waitFor();
    network.cut();
    network.restore();
    // The resume replays the line, and the server acks the same Key again (Duplicate): one line, delivered.
    await mine(hal.page, 'is this acked?', 'delivered').waitFor({ timeout: 15_000 });
    await expect(texts(hal.page)).resolves.toEqual(['is this acked?']);

    // Again, but the page is reloaded before the Ack: the saved outbox goes again with its Key.
    network.muteReplies();
    await say(hal.page, 'and this one?');
    await gus.next((f) => f.Type === 1 && f.Content === 'and this one?');
    await mine(hal.page, 'and this one?', 'sent').waitFor();
    await hal.page.reload();
    await mine(hal.page, 'and this one?', 'delivered').waitFor();
    await ui.line(hal.page, 'is this acked?').waitFor(); // the room's latest page, read again
    await expect(texts(hal.page)).resolves.toEqual(['is this acked?', 'and this one?']);

    await say(hal.page, 'last one');
    await gus.next((f) => f.Type === 1 && f.Content === 'last one');
    expect(received(gus, 'is this acked?')).toBe(1);
    expect(received(gus, 'and this one?')).toBe(1);
  }, WAIT * 6);
});
