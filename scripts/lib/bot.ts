// One bot: a protocol client plus the behaviours scripts/bot.ts can give it
// (a script, chatter, echo). It counts into counters shared by the whole run;
// every request it makes is bounded by the client's request timeout.
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Observable, Subscription, filter, map } from 'rxjs';
import { Message, Type } from '../../src/core/protocol';
import { ChatClient, Outgoing, RequestError } from './client';
import { Step, fill } from './script';
import { Counters, readStamp, recordLatency, stamp } from './stats';

export interface BotContext {
  url: string;
  /** This process's run ID: stamps carrying it were timed on our clock. */
  run: string;
  rooms: readonly string[];
  counters: Counters;
  /** Told about every failure (already counted in counters.errors). */
  report: (bot: string, what: string) => void;
}

const WORDS = 'the quick brown fox jumps over a lazy dog while seven wizards quietly hex bold jesters'.split(' ');
const chatterLine = () => Array.from({ length: 3 + Math.floor(Math.random() * 6) },
  () => WORDS[Math.floor(Math.random() * WORDS.length)]).join(' ');

/** Leaves room for the stamp within protocol.md's 4000 characters (code points). */
const MAX_TEXT = 3900;
const clip = (text: string): string => (text.length <= MAX_TEXT ? text : [...text].slice(0, MAX_TEXT).join(''));

/** Resolves when the signal aborts (at once if it already has). */
const aborted = (signal: AbortSignal): Promise<void> => new Promise((resolve) => {
  if (signal.aborted) resolve();
  else signal.addEventListener('abort', () => resolve(), { once: true });
});

export class Bot {
  readonly client: ChatClient;
  /** Chat lines (Broadcast, Direct) this bot receives. */
  readonly lines$: Observable<Message>;
  private readonly inflight = new Set<Promise<void>>();
  private readonly sub: Subscription;
  private echoing = false;
  private wasUp = false;

  constructor(readonly name: string, readonly index: number, private readonly ctx: BotContext) {
    this.client = new ChatClient({ url: ctx.url, name, rooms: ctx.rooms });
    this.lines$ = this.client.events$.pipe(
      filter((e) => e.kind === 'frame'),
      map((e) => (e as { frame: Message }).frame),
      filter((f) => (f.Type === Type.Broadcast || f.Type === Type.Direct) && f.ID !== this.client.id),
    );
    this.sub = this.client.events$.subscribe((e) => {
      if (e.kind === 'ready') this.wasUp = true;
      if (e.kind === 'down') this.fail(`${this.wasUp ? 'connection lost' : 'cannot connect'}: ${e.reason}`);
      if (e.kind === 'frame' && e.frame.Type === Type.Error && e.frame.Ref === undefined) {
        this.fail(`server error ${String(e.frame.Code)}: ${e.frame.Content}`);
      }
    });
    this.sub.add(this.lines$.subscribe((f) => this.heard(f)));
  }

  /** Connects and joins the rooms; false when it could not (the failure is counted). */
  start(): Promise<boolean> {
    return this.client.start().then(() => true, () => false);
  }

  async close(): Promise<void> {
    this.echoing = false;
    await this.client.close();
    this.sub.unsubscribe();
  }

  /** Waits for every request still in flight (each is bounded by its timeout). */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  private fail(what: string): void {
    this.ctx.counters.errors++;
    this.ctx.report(this.name, what);
  }

  /** Sends and counts; the promise settles on the answer, never rejects. */
  private request(frame: Outgoing, counted = false): Promise<void> {
    if (!this.client.ready) {
      this.fail(`not connected; Type ${frame.Type} not sent`);
      return Promise.resolve();
    }
    if (counted) this.ctx.counters.sent++;
    const p = this.client.request(frame).then(
      () => { if (counted) this.ctx.counters.acked++; },
      (e: RequestError) => this.fail(`Type ${frame.Type}: ${e.code}: ${e.message}`),
    );
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
    return p;
  }

  say(text: string, where: { room?: string; to?: string } = {}, echo = false): Promise<void> {
    const Content = stamp(clip(text), this.ctx.run, performance.now(), echo);
    return this.request(where.to !== undefined
      ? { Type: Type.Direct, To: where.to, Content }
      : { Type: Type.Broadcast, Content, ...(where.room === undefined ? {} : { Room: where.room }) }, true);
  }

  private heard(f: Message): void {
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
