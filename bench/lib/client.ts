// The generator's view of a chat client, the same for all three targets: connect
// to a room, say something (with a numeric Ref), hear chat lines and acks.
// rxchat and the ws baselines speak docs/protocol.md over `ws`; Socket.IO gets the same
// frames as event payloads through socket.io-client (websocket transport only).
import WebSocket from 'ws';
import { io } from 'socket.io-client';
import { keySequence } from '../../src/client/keys';

export type TargetName = 'rxchat' | 'rxchat-memory' | 'same-work' | 'raw-ws-corked' | 'raw-ws' | 'socketio'
  // `--cluster`: rxchat on Redis with one node and with two; Socket.IO with its Redis adapter on two.
  | 'rxchat-1' | 'rxchat-1-shared' | 'rxchat-2' | 'socketio-redis';

export interface Handlers {
  /** A Broadcast (Type 1) from someone else: its Content. */
  onChat?: (content: string) => void;
  /** The Ack (Type 12) of one of ours: its Ref. */
  onAck?: (ref: number) => void;
  onClose?: () => void;
}

export interface ChatClient {
  /** The ID the server gave us in its welcome. */
  readonly id: string;
  readonly isOpen: boolean;
  /** Sends a Broadcast to `room`. Content must need no JSON escaping (the generator's does not). */
  say(room: string, content: string, ref: number): void;
  /** A closing handshake. */
  close(): void;
}

/** Resolves once the server has welcomed us and sent the Join of our first room. */
export type Connect = (base: string, name: string, room: string, h: Handlers) => Promise<ChatClient>;

// The server's frames are small JSON objects written by the server under test; the
// generator reads the three fields it needs without a full JSON.parse, so its own
// cost per frame stays low (it shares one core with 200+ clients).
const TYPE = '"Type":';
const CONTENT = '"Content":"';
const REF = '"Ref":';
const ID = '"ID":"';

function intAfter(s: string, key: string): number {
  const i = s.indexOf(key);
  if (i < 0) return -1;
  let n = 0;
  for (let j = i + key.length; j < s.length; j++) {
    const c = s.charCodeAt(j) - 48;
    if (c < 0 || c > 9) break;
    n = n * 10 + c;
  }
  return n;
}

function stringAfter(s: string, key: string): string {
  const i = s.indexOf(key);
  if (i < 0) return '';
  const start = i + key.length;
  return s.slice(start, s.indexOf('"', start));
}

/** What both transports share: the welcome's ID, ready at the Join, closed once. */
class Lifecycle {
  id = '';
  ready = false;
  open = true;

  constructor(
    private readonly h: Handlers,
    private readonly resolve: (c: ChatClient) => void,
    private readonly reject: (e: Error) => void,
  ) {}

  welcome(id: string): void {
    if (!this.id) this.id = id;
  }

  joined(client: ChatClient): void {
    if (this.ready) return;
    this.ready = true;
    this.resolve(client);
  }

  failed(e: Error): void {
    if (!this.ready) this.reject(e);
  }

  closed(): void {
    this.failed(new Error('closed before the Join frame'));
    if (!this.open) return;
    this.open = false;
    this.h.onClose?.();
  }
}

export const connectWs: Connect = (base, name, room, h) => connectWsWith(false, base, name, room, h);

/**
 * `keys`: each line carries a Key from the client library's own sequence (src/client/keys.ts), so
 * the server does what it does for every line of our own clients.
 */
function connectWsWith(keys: boolean, base: string, name: string, room: string, h: Handlers): Promise<ChatClient> {
  const nextKey = keys ? keySequence() : undefined;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base}?name=${encodeURIComponent(name)}&room=${encodeURIComponent(room)}`, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
    });
    const life = new Lifecycle(h, resolve, reject);
    const client: ChatClient = {
      get id() {
        return life.id;
      },
      get isOpen() {
        return life.open;
      },
      say(r, content, ref) {
        if (ws.readyState !== WebSocket.OPEN) return;
        const key = nextKey ? `,"Key":"${nextKey()}"` : '';
        ws.send(`{"Type":1,"Content":"${content}","Room":"${r}","Ref":${ref}${key}}`);
      },
      close() {
        ws.close(1000);
      },
    };
    ws.on('message', (data: Buffer) => {
      const s = data.toString('latin1');
      switch (intAfter(s, TYPE)) {
        case 1:
          return h.onChat?.(stringAfter(s, CONTENT));
        case 12:
          return h.onAck?.(intAfter(s, REF));
        case 0:
          return life.welcome(stringAfter(s, ID));
        case 6:
          return life.joined(client);
        default:
      }
    });
    ws.on('error', (e) => life.failed(e));
    ws.on('close', () => life.closed());
  });
}

interface Frame {
  ID: string;
  Content: string;
  Type: number;
  Ref?: number;
}

export const connectSocketIo: Connect = (base, name, room, h) =>
  new Promise((resolve, reject) => {
    const socket = io(base, {
      transports: ['websocket'],
      forceNew: true,
      reconnection: false,
      timeout: 30_000,
      query: { name, room },
    });
    const life = new Lifecycle(h, resolve, reject);
    const client: ChatClient = {
      get id() {
        return life.id;
      },
      get isOpen() {
        return life.open;
      },
      say(r, content, ref) {
        socket.emit('chat', { Type: 1, Content: content, Room: r, Ref: ref }, (ack: Frame) => h.onAck?.(ack.Ref as number));
      },
      close() {
        socket.disconnect();
        life.closed();
      },
    };
    socket.on('message', (m: Frame) => {
      switch (m.Type) {
        case 1:
          return h.onChat?.(m.Content);
        case 0:
          return life.welcome(m.ID);
        case 6:
          return life.joined(client);
        default:
      }
    });
    socket.on('connect_error', (e) => life.failed(e));
    socket.on('disconnect', () => life.closed());
  });

/** `keys`: every line carries a Key (ws targets; Socket.IO's server has no such thing). */
export const connectorFor = (target: TargetName, keys = false): Connect => {
  if (target === 'socketio' || target === 'socketio-redis') return connectSocketIo;
  return keys ? (base, name, room, h) => connectWsWith(true, base, name, room, h) : connectWs;
};

/** Connects n clients, at most `concurrency` handshakes in flight, in index order. */
export async function connectMany(
  n: number,
  concurrency: number,
  connect: (i: number) => Promise<ChatClient>,
): Promise<ChatClient[]> {
  const clients: ChatClient[] = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      clients[i] = await connect(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return clients;
}
