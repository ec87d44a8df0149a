// A test client: a real `ws` client that queues every frame it receives, so a
// test can await the next frame of a kind. Every wait is bounded.
import WebSocket from 'ws';
import type { Message } from '../../src/core/protocol';

export const WAIT_MS = 3000;

export class TestClient {
  readonly frames: Message[] = [];
  id = '';
  /** The welcome frame (Type 0) connect() waited for: ID, Name, Rooms, Token, Resumed. */
  welcome: Message | undefined;
  private waiters: Array<() => void> = [];
  closeCode: number | undefined;
  private readonly closedPromise: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.frames.push(JSON.parse(data.toString()) as Message);
      this.wake();
    });
    this.closedPromise = new Promise((resolve) => ws.on('close', (code) => {
      this.closeCode = code;
      this.wake();
      resolve(code);
    }));
    ws.on('error', () => undefined);
  }

  /** Connects and waits for the welcome (Type 0) and the first room's Join (Type 6). */
  static async connect(url: string, query: Record<string, string> = {}, options: WebSocket.ClientOptions = {}): Promise<TestClient> {
    const q = new URLSearchParams(query).toString();
    const c = new TestClient(new WebSocket(q ? `${url}?${q}` : url, options));
    const welcome = await c.next((m) => m.Type === 0);
    c.id = welcome.ID;
    c.welcome = welcome;
    await c.next((m) => m.Type === 6);
    return c;
  }

  /** Opens a socket without waiting for anything. */
  static raw(url: string, options: WebSocket.ClientOptions = {}): TestClient {
    return new TestClient(new WebSocket(url, options));
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** Resolves with (and consumes) the first queued frame that matches, waiting at most ms. */
  next(match: (m: Message) => boolean = () => true, ms = WAIT_MS): Promise<Message> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const i = this.frames.findIndex(match);
        if (i >= 0) {
          resolve(this.frames.splice(i, 1)[0]);
          return true;
        }
        if (this.closeCode !== undefined) {
          reject(new Error(`socket closed (${this.closeCode}) before the frame came; had ${JSON.stringify(this.frames)}`));
          return true;
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`no matching frame within ${ms} ms; had ${JSON.stringify(this.frames)}`));
      }, ms);
      const waiter = () => {
        if (check()) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== waiter);
        }
      };
      this.waiters.push(waiter);
    });
  }

  /** Sends a request with a Ref and waits for the answer (of the given Type, or an Error) carrying it. */
  async request(frame: Record<string, unknown>, answerType: number): Promise<Message> {
    const ref = `r${Math.random().toString(36).slice(2)}`;
    this.send({ ...frame, Ref: ref });
    return this.next((m) => m.Ref === ref && (m.Type === answerType || m.Type === 5));
  }

  /** Waits for the socket to close, at most ms; resolves with the close code. */
  closed(ms = WAIT_MS): Promise<number> {
    return Promise.race([
      this.closedPromise,
      new Promise<number>((_, reject) => setTimeout(() => reject(new Error(`not closed within ${ms} ms`)), ms).unref()),
    ]);
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.closed().catch(() => this.ws.terminate());
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}
