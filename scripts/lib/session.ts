// The chat CLI's state beyond the socket: which joined room plain lines go to,
// and who is who. It shows every frame from the client and carries out one
// command at a time; the terminal (readline, exit codes) stays in chat.ts.
import { Subscription } from 'rxjs';
import { Message, Type } from '../../src/core/protocol';
import { ChatClient, ClientEvent, RequestError } from './client';
import { Command, HELP } from './commands';
import { formatFrame, formatLocal, formatOwn } from './format';
import { Presence, applyFrame, emptyPresence, resolvePeer } from './presence';

export type Outcome = 'ok' | 'failed' | 'quit';

/** How long /reconnect waits to be back in. */
const RECONNECT_MS = 5000;

export class ChatSession {
  /** The joined room plain lines are sent to ('' when in none). */
  current: string;
  presence: Presence = emptyPresence;
  private readonly sub: Subscription;
  /** Since the last time we were connected: the first loss is news, further failed attempts less so. */
  private downs = 0;
  /** Where /more carries on: the room of the last /who and the Next its answer gave. */
  private whoNext: { room: string; after: string } | undefined;

  constructor(
    private readonly client: ChatClient,
    private readonly color: boolean,
    private readonly print: (line: string) => void,
    firstRoom: string,
  ) {
    this.current = firstRoom;
    this.sub = client.events$.subscribe((e) => this.onEvent(e));
  }

  dispose(): void {
    this.sub.unsubscribe();
  }

  private get view() {
    return { selfId: this.client.id, color: this.color, presence: this.presence };
  }

  private local(text: string, kind: 'info' | 'error' = 'info'): void {
    this.print(formatLocal({ color: this.color }, text, kind));
  }

  private onEvent(e: ClientEvent): void {
    switch (e.kind) {
      case 'connecting':
        // The IDs of the others are learnt again from the Join frames of the new connection.
        this.presence = emptyPresence;
        return;
      case 'ready':
        this.downs = 0;
        if (!e.rooms.includes(this.current)) this.current = e.rooms[0] ?? '';
        if (e.reconnected) this.local(`reconnected as ${e.name}, in ${e.rooms.join(', ') || 'no room'}`);
        return;
      case 'down': {
        const what = e.held
          ? `the server closed the connection (${e.code}${e.reason ? ` ${e.reason}` : ''}); not reconnecting by itself: `
            + 'type /reconnect to try again, /quit to leave'
          : e.retryInMs === undefined ? `disconnected: ${e.reason}`
          : `${this.downs === 0 ? 'server went away' : 'still no server'} (${e.reason}); `
            + `reconnecting in ${(e.retryInMs / 1000).toFixed(1)} s`;
        this.downs++;
        this.local(what, 'error');
        return;
      }
      case 'frame': {
        this.presence = applyFrame(this.presence, e.frame, this.client.id);
        const line = formatFrame(e.frame, this.view);
        if (line !== undefined) this.print(line);
        return;
      }
      default: {
        const never: never = e;
        return never;
      }
    }
  }

  /** protocol.md: a Members answer lists at most 100; Next, when present, is the After of the next page. */
  private paged(room: string, answer: Message): void {
    this.whoNext = typeof answer.Next === 'string' ? { room, after: answer.Next } : undefined;
  }

  /** Carries out one command and waits (bounded by the client) for its answer. */
  async run(cmd: Command): Promise<Outcome> {
    try {
      return await this.execute(cmd);
    } catch (e) {
      // Errors the server sent were shown as they arrived; only local failures are news.
      if (!(e instanceof RequestError && e.fromServer)) this.local(`not done: ${(e as Error).message}`, 'error');
      return 'failed';
    }
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
        for (const line of HELP) this.print(`  ${line}`);
        return 'ok';
      case 'quit':
        return 'quit';
      case 'say': {
        if (this.current === '') throw new Error('you are in no room; /join one');
        const room = this.current;
        const ack = await c.request({ Type: Type.Broadcast, Content: cmd.text, Room: room });
        this.print(formatOwn(this.view, ack.SentAt, { room }, c.name, cmd.text));
        return 'ok';
      }
      case 'msg': {
        const peer = resolvePeer(this.presence, cmd.to);
        if (!peer.ok) throw new Error(peer.reason);
        const ack = await c.request({ Type: Type.Direct, To: peer.id, Content: cmd.text });
        this.print(formatOwn(this.view, ack.SentAt, { to: peer.id }, c.name, cmd.text));
        return 'ok';
      }
      case 'join':
        await c.request({ Type: Type.Join, Room: cmd.room });
        this.current = cmd.room;
        return 'ok';
      case 'leave': {
        const room = cmd.room ?? this.current;
        if (room === '') throw new Error('you are in no room');
        await c.request({ Type: Type.Leave, Room: room });
        if (this.current === room) this.current = c.rooms[0] ?? '';
        if (this.current !== '') this.local(`now talking in ${this.current}`);
        return 'ok';
      }
      case 'room':
        if (!c.rooms.includes(cmd.room)) throw new Error(`you are not in ${cmd.room} (/join it first)`);
        this.current = cmd.room;
        return 'ok';
      case 'rooms':
        await c.request({ Type: Type.Rooms });
        return 'ok';
      case 'who': {
        const room = cmd.room ?? this.current;
        if (room === '') throw new Error('usage: /who ROOM');
        this.paged(room, await c.request({ Type: Type.Members, Room: room }));
        return 'ok';
      }
      case 'more': {
        const from = this.whoNext;
        if (!from) throw new Error('nothing more to list (/who first)');
        this.paged(from.room, await c.request({ Type: Type.Members, Room: from.room, After: from.after }));
        return 'ok';
      }
      case 'reconnect':
        // Only after a policy close: otherwise the client is connected or already retrying by itself.
        if (!c.reconnectNow()) throw new Error(c.ready ? 'already connected' : 'already reconnecting by itself');
        await c.whenReady(RECONNECT_MS);
        return 'ok';
      case 'nick':
        await c.request({ Type: Type.Rename, Name: cmd.name });
        return 'ok';
      default: {
        const never: never = cmd;
        return never;
      }
    }
  }
}
