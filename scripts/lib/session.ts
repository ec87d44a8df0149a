// The chat CLI's state beyond the client library: which joined room plain lines go
// to, who is who, and the line to print for each of the client's events. The library
// (src/client) owns the link, resume, the outbox and each room's order; this file only
// shows what it says and carries out one command at a time. The terminal (readline,
// exit codes) stays in chat.ts.
import { ChatClient, ClientEvent, Frame, MessageUpdate, Type } from '../../src/client';
import { Fate, Sender, fromServer } from './client';
import { Command, HELP } from './commands';
import { formatFrame, formatLocal, formatNotice, formatOwn, formatPending } from './format';
import { Presence, applyFrame, emptyPresence, resolvePeer } from './presence';

export type Outcome = 'ok' | 'failed' | 'quit';

/** How long /reconnect waits to be back in. */
const RECONNECT_MS = 5000;
/** How long a sent line waits for its Ack before a piped run calls it unanswered. */
export const ANSWER_MS = 5000;
/** Own MsgIDs remembered, so a line of ours that a resume replays after its Ack is not shown twice. */
const OWN_KEPT = 1000;

export interface SessionOptions {
  color: boolean;
  print: (line: string) => void;
  firstRoom: string;
  /**
   * Piped stdin: a chat line waits for its fate (delivered, refused, or ANSWER_MS on the
   * wire without an Ack), and a request waits (up to linkWaitMs) for a link. At a terminal
   * nothing waits: lines go to the outbox and the prompt comes back at once.
   */
  wait: boolean;
  linkWaitMs?: number;
}

export class ChatSession {
  /** The joined room plain lines are sent to ('' when in none). */
  current: string;
  presence: Presence = emptyPresence;
  private readonly sender: Sender;
  private readonly stop: () => void;
  private everReady = false;
  /** Since the last time we were connected: the first loss is news, further failed attempts less so. */
  private downs = 0;
  /** Every ID we have had: after a new session, our lines from before come back under the old one. */
  private readonly selfIds = new Set<string>();
  /** MsgIDs of our lines already shown (bounded, oldest forgotten first). */
  private readonly own = new Set<string>();
  /** Keys of our messages shown as pending, so each is marked once until its fate. */
  private readonly pendingShown = new Set<string>();
  /**
   * Our acked lines waiting for their place among the room's lines (room NUL Seq): an Ack
   * can come while the lines before it are still being read from History. The library
   * reports each Seq in order (onSeq, own: true); that is when the line is shown.
   */
  private readonly ownDue = new Map<string, MessageUpdate>();
  /** Where /more carries on: the room of the last /who and the Next its answer gave. */
  private whoNext: { room: string; after: string } | undefined;

  constructor(private readonly client: ChatClient, private readonly o: SessionOptions) {
    this.current = o.firstRoom;
    this.sender = new Sender(client, ANSWER_MS);
    this.stop = client.onAny((e) => this.onEvent(e));
  }

  dispose(): void {
    this.stop();
    this.sender.dispose();
  }

  /** The client's onSeq: chat.ts wires it, so our lines show in the room's order. */
  seen(e: { room: string; seq: number; own: boolean }): void {
    if (!e.own) return;
    const k = `${e.room}\u0000${e.seq}`;
    const m = this.ownDue.get(k);
    if (m === undefined) return;
    this.ownDue.delete(k);
    this.showOwn(m);
  }

  /** Shows what still waits for its place (in `room`, or anywhere): the order can no longer come. */
  private flushOwn(room?: string): void {
    for (const [k, m] of [...this.ownDue]) {
      if (room !== undefined && m.room !== room) continue;
      this.ownDue.delete(k);
      this.showOwn(m);
    }
  }

  private showOwn(m: MessageUpdate): void {
    this.remember(m.msgId);
    const where = m.room !== undefined ? { room: m.room } : { to: m.to ?? '' };
    this.o.print(formatOwn(this.view, Date.now() / 1000, where, this.client.name, m.content));
  }

  /** Waits (at most ms) for what is still in the outbox to be delivered; true when nothing is left. */
  flush(ms: number): Promise<boolean> {
    return this.sender.settled(ms);
  }

  private get view() {
    return { selfId: this.client.id, color: this.o.color, presence: this.presence };
  }

  private local(text: string, kind: 'info' | 'error' = 'info'): void {
    this.o.print(formatLocal({ color: this.o.color }, text, kind));
  }

  /** The current room is one we are in, or the first we are in. */
  private keepCurrent(): void {
    const rooms = this.client.rooms;
    if (!rooms.includes(this.current)) this.current = rooms[0] ?? '';
  }

  private onEvent(e: ClientEvent): void {
    switch (e.type) {
      case 'link':
        return this.onLink(e.link);
      case 'ready':
        this.downs = 0;
        this.selfIds.add(e.id);
        this.keepCurrent();
        if (!this.everReady) this.o.print(formatNotice(this.o, `connected as ${e.name} (ID ${e.id})`));
        else {
          // protocol.md "Resuming": the same identity and rooms, missed lines follow; otherwise
          // a new identity, the rooms joined again and caught up from History.
          const how = e.resumed ? 'resumed' : `new session, ID ${e.id}`;
          this.local(`reconnected as ${e.name}, in ${e.rooms.join(', ') || 'no room'} (${how})`);
        }
        this.everReady = true;
        return;
      case 'line':
        return this.onLine(e.frame, e.via);
      case 'direct':
        this.presence = applyFrame(this.presence, e.frame, this.client.id);
        this.o.print(formatFrame(e.frame, this.view) as string);
        return;
      case 'message':
        return this.onMessage(e.message);
      case 'frame': {
        const f = e.frame;
        this.presence = applyFrame(this.presence, f, this.client.id);
        if (f.Type === Type.Leave || f.Type === Type.Error) this.keepCurrent();
        if (f.Type === Type.Leave && typeof f.Room === 'string') this.flushOwn(f.Room);
        const line = formatFrame(f, this.view);
        if (line !== undefined) this.o.print(line);
        return;
      }
      case 'catchup':
        if (e.state === 'done') this.flushOwn(e.room);
        if (e.state === 'started') this.local(`${e.room}: reading the lines missed (${e.reason})`);
        else if (e.complete) this.local(`${e.room}: caught up`);
        else this.local(`${e.room}: could not read every missed line; /history shows what the server keeps`, 'error');
        return;
      case 'gap': {
        const n = e.before - e.after - 1;
        this.local(`${e.room}: ${n} line${n === 1 ? '' : 's'} (Seq ${e.after + 1}–${e.before - 1}) missed and no longer kept`, 'error');
        return;
      }
      case 'reset':
        this.flushOwn(e.room);
        // no_position: our first position in the room, on a resume; nothing was lost to us.
        if (e.reason !== 'no_position') this.local(`${e.room}: the room's history was reset (${e.reason}); earlier lines are gone`, 'error');
        return;
      case 'seq':
        return;
      default: {
        const never: never = e;
        return never;
      }
    }
  }

  private onLink(l: Extract<ClientEvent, { type: 'link' }>['link']): void {
    if (l.state !== 'connecting' && l.state !== 'ready') this.flushOwn();
    switch (l.state) {
      case 'connecting':
        // Who is who is learnt again from the Join replies of the new connection.
        this.presence = emptyPresence;
        return;
      case 'down': {
        const why = !this.everReady ? 'cannot connect' : this.downs === 0 ? 'server went away' : 'still no server';
        const secs = Math.max(0, (l.retryAt - Date.now()) / 1000).toFixed(1);
        this.downs++;
        this.local(`${why} (${l.reason}); reconnecting in ${secs} s`, 'error');
        return;
      }
      case 'held':
        this.local(`the server closed the connection (${l.code}${l.reason ? ` ${l.reason}` : ''}); not reconnecting by itself: `
          + 'type /reconnect to try again, /quit to leave', 'error');
        return;
      case 'ready':
      case 'closed':
        return;
      default: {
        const never: never = l;
        return never;
      }
    }
  }

  private remember(msgId: string | undefined): void {
    if (msgId === undefined) return;
    this.own.add(msgId);
    if (this.own.size > OWN_KEPT) this.own.delete(this.own.values().next().value as string);
  }

  /** A chat line, per room in Seq order and once (the library's promise), live or read to catch up. */
  private onLine(f: Frame, via: 'live' | 'history'): void {
    const msgId = typeof f.MsgID === 'string' ? f.MsgID : undefined;
    if (this.selfIds.has(f.ID)) {
      // Our own line, replayed on a resume or read from History: shown once, whether its Ack came first or not.
      if (msgId !== undefined && this.own.has(msgId)) return;
      this.remember(msgId);
      this.o.print(formatOwn(this.view, f.SentAt, { room: String(f.Room) }, String(f.Name ?? this.client.name), f.Content));
      return;
    }
    // Senders of lines read from History may be long gone: they teach us no one to /msg.
    if (via === 'live') this.presence = applyFrame(this.presence, f, this.client.id);
    this.o.print(formatFrame(f, this.view) as string);
  }

  private onMessage(m: MessageUpdate): void {
    const where = m.room !== undefined ? { room: m.room } : { to: m.to ?? '' };
    switch (m.status) {
      case 'sent':
        return;
      case 'pending':
        if (m.code !== undefined) {
          // protocol.md: store_busy / store_failed: not kept; the library sends it again, same Key.
          const secs = m.retryAt === undefined ? '' : ` in ${Math.max(0, (m.retryAt - Date.now()) / 1000).toFixed(1)} s`;
          this.local(`the server could not keep "${m.content}" yet (${m.code}); trying again${secs}`, 'error');
        } else if (!this.pendingShown.has(m.key)) {
          this.pendingShown.add(m.key);
          this.o.print(formatPending(this.view, Date.now() / 1000, where, this.client.name, m.content));
        }
        return;
      case 'delivered':
        this.pendingShown.delete(m.key);
        // Already shown: a resume replayed it, or History had it, before this Ack (protocol.md "Sending twice").
        if (m.msgId !== undefined && this.own.has(m.msgId)) return;
        if (m.room !== undefined && m.seq !== undefined) this.ownDue.set(`${m.room}\u0000${m.seq}`, m);
        else this.showOwn(m);
        return;
      case 'failed': {
        this.pendingShown.delete(m.key);
        const to = m.room !== undefined ? ` in ${m.room}` : '';
        this.local(`not sent${to}: "${m.content}": ${m.code ?? 'failed'}${m.reason ? `: ${m.reason}` : ''}`, 'error');
        return;
      }
      default: {
        const never: never = m.status;
        return never;
      }
    }
  }

  /** protocol.md: a Members answer lists at most 100; Next, when present, is the After of the next page. */
  private paged(room: string, answer: Frame): void {
    this.whoNext = typeof answer.Next === 'string' ? { room, after: answer.Next } : undefined;
  }

  /** Carries out one command and, when the session waits, its answer (every wait is bounded). */
  async run(cmd: Command): Promise<Outcome> {
    try {
      return await this.execute(cmd);
    } catch (e) {
      // Errors the server sent were shown as they arrived; only local failures are news.
      if (!fromServer(e)) this.local(`not done: ${(e as Error).message}`, 'error');
      return 'failed';
    }
  }

  /** A request needs a link: piped input waits for one (bounded); at a terminal it is refused at once. */
  private async linked(): Promise<void> {
    if (!this.client.ready && this.o.wait) await this.client.whenReady(this.o.linkWaitMs ?? ANSWER_MS);
    if (!this.client.ready) throw new Error('not connected; try again once reconnected (chat lines are queued, commands are not)');
  }

  /** A chat line or a Direct into the outbox; piped input waits for what becomes of it. */
  private async say(where: { room: string } | { to: string }, text: string): Promise<Outcome> {
    const { fate } = this.sender.send(where, text);
    if (!this.o.wait) return 'ok';
    const f: Fate = await fate;
    if (f.status === 'timeout') this.local(`no Ack for "${f.content}" within ${ANSWER_MS / 1000} s`, 'error');
    // delivered and failed were shown by onMessage.
    return f.status === 'delivered' ? 'ok' : 'failed';
  }

  private async execute(cmd: Command): Promise<Outcome> {
    const c = this.client;
    switch (cmd.kind) {
      case 'none':
        return 'ok';
      case 'invalid':
        this.local(cmd.reason, 'error');
        return 'failed';
      case 'help':
        for (const line of HELP) this.o.print(`  ${line}`);
        return 'ok';
      case 'quit':
        return 'quit';
      case 'say':
        if (this.current === '') throw new Error('you are in no room; /join one');
        return this.say({ room: this.current }, cmd.text);
      case 'msg': {
        const peer = resolvePeer(this.presence, cmd.to);
        if (!peer.ok) throw new Error(peer.reason);
        return this.say({ to: peer.id }, cmd.text);
      }
      case 'join':
        await this.linked();
        await c.join(cmd.room);
        this.current = cmd.room;
        return 'ok';
      case 'leave': {
        const room = cmd.room ?? this.current;
        if (room === '') throw new Error('you are in no room');
        await this.linked();
        await c.leave(room);
        if (this.current === room) this.current = c.rooms[0] ?? '';
        if (this.current !== '') this.local(`now talking in ${this.current}`);
        return 'ok';
      }
      case 'room':
        if (!c.rooms.includes(cmd.room)) throw new Error(`you are not in ${cmd.room} (/join it first)`);
        this.current = cmd.room;
        return 'ok';
      case 'rooms':
        await this.linked();
        await c.request({ Type: Type.Rooms });
        return 'ok';
      case 'who': {
        const room = cmd.room ?? this.current;
        if (room === '') throw new Error('usage: /who ROOM');
        await this.linked();
        this.paged(room, await c.request({ Type: Type.Members, Room: room }));
        return 'ok';
      }
      case 'more': {
        const from = this.whoNext;
        if (!from) throw new Error('nothing more to list (/who first)');
        await this.linked();
        this.paged(from.room, await c.request({ Type: Type.Members, Room: from.room, After: from.after }));
        return 'ok';
      }
      case 'history':
        return this.history(cmd.n);
      case 'reconnect':
        if (c.ready) throw new Error('already connected');
        // After a policy close this is the only way back; while retrying by itself, it skips the wait.
        c.reconnect();
        await c.whenReady(RECONNECT_MS);
        return 'ok';
      case 'nick':
        await this.linked();
        await c.request({ Type: Type.Rename, Name: cmd.name });
        return 'ok';
      default: {
        const never: never = cmd;
        return never;
      }
    }
  }

  /** protocol.md "History": the room's last n lines, oldest first, read 100 a page. */
  private async history(n: number): Promise<Outcome> {
    const room = this.current;
    if (room === '') throw new Error('you are in no room; /join one');
    await this.linked();
    const lines = await this.client.recent(room, n);
    if (lines.length === 0) {
      this.local(`${room}: no history`);
      return 'ok';
    }
    const span = `Seq ${String(lines[0].Seq)}–${String(lines[lines.length - 1].Seq)}`;
    this.local(`${room}: the last ${lines.length} line${lines.length === 1 ? '' : 's'} (${span})`);
    for (const f of lines) {
      this.o.print(this.selfIds.has(f.ID)
        ? formatOwn(this.view, f.SentAt, { room }, String(f.Name ?? this.client.name), f.Content)
        : formatFrame(f, this.view) as string);
    }
    this.local(`${room}: end of history`);
    return 'ok';
  }
}
