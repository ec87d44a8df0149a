// One bot: a client of the client library (src/client) plus the behaviours
// scripts/bot.ts can give it (a script, chatter, echo). It counts into counters
// shared by the whole run; every wait is bounded. With --verify it feeds the run's
// SeqVerifier every Seq its client reports (onSeq), its Join replies and gap notices.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Observable, filter, map, merge } from 'rxjs';
import { ChatClient, ClientEvent, Frame, LinkState, Outgoing, Type } from '../../src/client';
import { Fate, REQUEST_MS, Sender, events$, nodeClient } from './client';
import { Step, fill } from './script';
import { Counters, readStamp, recordLatency, stamp } from './stats';
import { SeqVerifier } from './verify';

export interface BotContext {
  url: string;
  /** This process's run ID: stamps carrying it were timed on our clock. */
  run: string;
  rooms: readonly string[];
  counters: Counters;
  /** Told about every failure (already counted in counters.errors). */
  report: (bot: string, what: string) => void;
  /** --verify: checks each room's Seq at every receiver. */
  verifier?: SeqVerifier;
  /** Messages one bot's outbox holds (the library's outboxMax). */
  outboxMax?: number;
}

const WORDS = 'the quick brown fox jumps over a lazy dog while seven wizards quietly hex bold jesters'.split(' ');
const chatterLine = () => Array.from({ length: 3 + Math.floor(Math.random() * 6) },
  () => WORDS[Math.floor(Math.random() * WORDS.length)]).join(' ');

/** Leaves room for the stamp within protocol.md's 4000 characters (code points). */
const MAX_TEXT = 3900;
const clip = (text: string): string => (text.length <= MAX_TEXT ? text : [...text].slice(0, MAX_TEXT).join(''));

/** docs/cli.md: connecting takes at most 5 s per bot, getting into the other rooms 5 s more. */
const CONNECT_MS = 5000;
const JOIN_MS = 5000;

/** Resolves when the signal aborts (at once if it already has). */
const aborted = (signal: AbortSignal): Promise<void> => new Promise((resolve) => {
  if (signal.aborted) resolve();
  else signal.addEventListener('abort', () => resolve(), { once: true });
});

export class Bot {
  readonly client: ChatClient;
  /** Chat lines (Broadcast, Direct) this bot receives from anyone else. */
  readonly lines$: Observable<Frame>;
  private readonly sender: Sender;
  private readonly inflight = new Set<Promise<void>>();
  private readonly stop: () => void;
  /** Rooms whose Join reply came on this connection (the bot is in them now). */
  private readonly joined = new Set<string>();
  /** start() waiting for the last of the run's rooms. */
  private inAll?: () => void;
  /** Our IDs: after a new session, a line of ours from before comes back under the old one. */
  private readonly selfIds = new Set<string>();
  private echoing = false;
  private up = false;

  constructor(readonly name: string, readonly index: number, private readonly ctx: BotContext) {
    const v = ctx.verifier;
    this.client = nodeClient({
      url: ctx.url, name, rooms: ctx.rooms,
      ...(ctx.outboxMax !== undefined ? { outboxMax: ctx.outboxMax } : {}),
      ...(v ? { onSeq: (e: { room: string; seq: number; epoch: string }) => v.seen(name, e.room, e.seq, e.epoch) } : {}),
    });
    this.sender = new Sender(this.client, REQUEST_MS);
    const c = this.client;
    // Only the drain at the end of a run watches this; the bot itself hears lines in onEvent.
    this.lines$ = merge(
      events$(c, 'line').pipe(map((e) => e.frame), filter((f) => !this.selfIds.has(f.ID))),
      events$(c, 'direct').pipe(map((e) => e.frame)),
    );
    // One listener for every event: a loaded run delivers hundreds of thousands of lines.
    this.stop = c.onAny((e) => this.onEvent(e));
  }

  private onEvent(e: ClientEvent): void {
    switch (e.type) {
      case 'line':
        if (!this.selfIds.has(e.frame.ID)) this.heard(e.frame);
        return;
      case 'direct':
        this.heard(e.frame);
        return;
      case 'frame':
        return this.frame(e.frame);
      case 'link':
        return this.link(e.link);
      case 'gap':
        this.ctx.verifier?.gap(this.name, e.room, e.after, e.before);
        return;
      case 'reset':
        // no_position: our first position there, given on a resume; the Join reply set it already.
        if (e.reason !== 'no_position') this.ctx.verifier?.reset(this.name, e.room, e.seq, e.epoch, e.reason);
        return;
      default:
        return; // ready, message (the Sender's), catchup, seq (onSeq)
    }
  }

  private link(l: LinkState): void {
    if (l.state === 'connecting') this.joined.clear();
    if (l.state === 'ready') {
      this.up = true;
      this.selfIds.add(this.client.id);
    }
    // One failure per loss, not per attempt to come back; a bot that never got in is counted by start().
    if ((l.state === 'down' || l.state === 'held') && this.up) {
      this.up = false;
      this.fail(l.state === 'held'
        ? `the server closed the connection (${l.code} ${l.reason}); not reconnecting`
        : `connection lost: ${l.reason}`);
    }
  }

  private frame(f: Frame): void {
    const room = typeof f.Room === 'string' ? f.Room : undefined;
    if (f.Type === Type.Join && room !== undefined) {
      this.joined.add(room);
      if (this.inAll && this.ctx.rooms.every((r) => this.joined.has(r))) this.inAll();
      if (typeof f.Seq === 'number' && typeof f.Epoch === 'string') this.ctx.verifier?.joined(this.name, room, f.Seq, f.Epoch);
    } else if (f.Type === Type.Leave && room !== undefined) {
      this.joined.delete(room);
      this.ctx.verifier?.left(this.name, room);
    } else if (f.Type === Type.Error && f.Ref === undefined) {
      this.fail(`server error ${String(f.Code)}: ${f.Content}`);
    }
  }

  /** Connects and gets into every room of the run; false when it could not (the failure is counted). */
  async start(): Promise<boolean> {
    this.client.start();
    try {
      await this.client.whenReady(CONNECT_MS);
    } catch (e) {
      this.fail(`cannot connect: ${(e as Error).message}`);
      this.client.close();
      return false;
    }
    // The library joins the rooms after ?room= once welcomed; the run starts when the bot is in all of them.
    const missing = () => this.ctx.rooms.filter((r) => !this.joined.has(r));
    if (missing().length > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.inAll?.(), JOIN_MS);
        this.inAll = () => { clearTimeout(timer); this.inAll = undefined; resolve(); };
      });
      if (missing().length > 0) this.fail(`not in ${missing().join(', ')} after ${JOIN_MS / 1000} s`);
    }
    return true;
  }

  close(): void {
    this.echoing = false;
    // Fails (and so counts) what the outbox still holds; the socket closes with 1000.
    this.client.close();
    this.stop();
    this.sender.dispose();
  }

  /** Waits for every answer still due, at most ms; what has none by then is counted as an error. */
  async settle(ms: number): Promise<void> {
    await Promise.allSettled([...this.inflight]);
    if (!(await this.sender.settled(ms))) this.fail(`${this.sender.inFlight} message(s) still not acked after ${ms / 1000} s`);
  }

  private fail(what: string): void {
    this.ctx.counters.errors++;
    this.ctx.report(this.name, what);
  }

  /** A request with its answer counted; the promise settles on the answer, never rejects. */
  private request(frame: Outgoing): Promise<void> {
    const p = this.client.request(frame).then(
      () => undefined,
      (e: { code?: string; message?: string }) => this.fail(`Type ${frame.Type}: ${e.code}: ${e.message}`),
    );
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
    return p;
  }

  /** Says text in a room (the bot's first by default) or to a connection; settles on its Ack or failure. */
  say(text: string, where: { room?: string; to?: string } = {}, echo = false): Promise<void> {
    const content = stamp(clip(text), this.ctx.run, performance.now(), echo);
    const room = where.room ?? this.client.rooms[0];
    if (where.to === undefined && room === undefined) {
      this.fail('in no room; line not sent');
      return Promise.resolve();
    }
    this.ctx.counters.sent++;
    const { fate } = this.sender.send(where.to !== undefined ? { to: where.to } : { room: room as string }, content);
    return fate.then((f: Fate) => {
      if (f.status === 'delivered') this.ctx.counters.acked++;
      else if (f.status === 'timeout') this.fail(`no Ack within ${REQUEST_MS / 1000} s`);
      else this.fail(`not sent: ${f.code ?? 'failed'}: ${f.reason ?? ''}`);
    });
  }

  private heard(f: Frame): void {
    const c = this.ctx.counters;
    c.received++;
    const { text, stamp: s } = readStamp(f.Content);
    if (s && s.run === this.ctx.run) recordLatency(c, performance.now() - s.sentAt);
    // Never answer an echo, whoever's: two echo bots must not talk to each other forever.
    if (!this.echoing || s?.echo) return;
    const reply = `echo: ${text}`;
    if (f.Type === Type.Direct) void this.say(reply, { to: f.ID }, true);
    else void this.say(reply, { room: typeof f.Room === 'string' ? f.Room : undefined }, true);
  }

  /** Replies to what others say until the signal aborts. */
  async echo(signal: AbortSignal): Promise<void> {
    this.echoing = true;
    await aborted(signal);
    this.echoing = false;
  }

  /** Says a random line in one of its rooms, `rate` times a second, until the signal aborts. */
  async chatter(rate: number, signal: AbortSignal): Promise<void> {
    const period = 1000 / rate;
    const tick = () => {
      const rooms = this.client.rooms;
      if (rooms.length > 0) void this.say(chatterLine(), { room: rooms[Math.floor(Math.random() * rooms.length)] });
    };
    let every: NodeJS.Timeout | undefined;
    // A random phase, so N bots do not all speak in the same millisecond.
    const first = setTimeout(() => { tick(); every = setInterval(tick, period); }, Math.random() * period);
    await aborted(signal);
    clearTimeout(first);
    clearInterval(every);
  }

  /** Runs the script's steps in order, each waiting for its answer, until done or aborted. */
  async runScript(steps: readonly Step[], signal: AbortSignal): Promise<void> {
    const f = (s: string) => fill(s, this);
    for (const step of steps) {
      if (signal.aborted) return;
      switch (step.kind) {
        case 'wait':
          await sleep(step.ms, undefined, { signal }).catch(() => undefined);
          break;
        case 'say':
          await this.say(f(step.text), step.room === undefined ? {} : { room: f(step.room) });
          break;
        case 'join':
          await this.request({ Type: Type.Join, Room: f(step.room) });
          break;
        case 'leave':
          await this.request({ Type: Type.Leave, Room: f(step.room) });
          break;
        case 'nick':
          await this.request({ Type: Type.Rename, Name: f(step.name) });
          break;
        default: {
          const never: never = step;
          return never;
        }
      }
    }
  }
}
