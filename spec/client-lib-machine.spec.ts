// The client library's pure core (src/client/machine.ts): inputs in, state and
// commands (data) out, compared with toEqual. No socket, no timer, no clock.
import { step } from '../src/client/machine';
import { ClientState, Command, DEFAULT_OPTIONS, Input, InputBody, initialState } from '../src/client/state';

const T0 = 1_000_000;
const opts = { ...DEFAULT_OPTIONS, url: 'ws://h/ws' };
const E = 'Qm7xK2pA';

/** Steps through inputs (at T0 unless said, no jitter); every command in order. Checks no input mutates the state. */
function run(s: ClientState, ...inputs: (InputBody & Partial<Input>)[]) {
  const commands: Command[] = [];
  for (const i of inputs) {
    const before = structuredClone(s);
    const r = step(s, { at: T0, ...i } as Input);
    expect(s).toEqual(before);
    s = r.state;
    commands.push(...r.commands);
  }
  return { s, commands };
}

const frame = (f: Record<string, unknown>, conn = 1): InputBody =>
  ({ kind: 'frameReceived', conn, frame: { ID: '', Content: '', SentAt: 1, Type: 0, ...f } as never });
const welcome = (id: string, more: Record<string, unknown> = {}) =>
  frame({ Type: 0, ID: id, Content: 'welcome', Name: 'alice', Rooms: ['lobby'], Token: 'tok1', ...more });
const emitted = (commands: Command[]) => commands.filter((c) => c.kind === 'emit').map((c) => (c as { event: unknown }).event);
const sent = (commands: Command[]) => commands.filter((c) => c.kind === 'send').map((c) => (c as { frame: unknown }).frame);

const fresh = () => initialState(opts, 'alice', ['lobby', 'rust']);

describe('client core: connecting', () => {
  it('connects with ?name=&room= (the first room), under a bounded wait for the welcome', () => {
    const { s, commands } = run(fresh(), { kind: 'started' });
    expect(commands).toEqual([
      { kind: 'clearTimer', name: 'retry' },
      { kind: 'emit', event: { type: 'link', link: { state: 'connecting', attempt: 0 } } },
      { kind: 'connect', conn: 1, url: 'ws://h/ws?name=alice&room=lobby' },
      { kind: 'setTimer', name: 'connect', ms: 10_000 },
    ]);
    expect(s.phase).toBe('connecting');
    // Started twice: nothing more, the same state.
    expect(step(s, { kind: 'started', at: T0 }).state).toBe(s);
  });

  it('on the welcome: ready, joins the other rooms (Refs are numbers), starts the heartbeat', () => {
    const { s, commands } = run(fresh(), { kind: 'started' }, welcome('A1'));
    expect(commands.slice(4)).toEqual([
      { kind: 'clearTimer', name: 'connect' },
      { kind: 'setTimer', name: 'ping', ms: 25_000 },
      { kind: 'setTimer', name: 'req:1', ms: 10_000 },
      { kind: 'send', frame: { Type: 6, Room: 'rust', Ref: 1 } },
      { kind: 'emit', event: { type: 'link', link: { state: 'ready' } } },
      { kind: 'emit', event: { type: 'ready', id: 'A1', name: 'alice', rooms: ['lobby', 'rust'], resumed: false, reconnected: false } },
    ]);
    expect(s).toMatchObject({ phase: 'ready', id: 'A1', token: 'tok1', retries: { attempt: 0, upAt: T0 } });
  });

  it('ignores what an older socket says: the same state object', () => {
    const { s } = run(fresh(), { kind: 'started' }, welcome('A1'));
    expect(step(s, { ...frame({ Type: 1, Room: 'lobby', Seq: 1 }, 0), at: T0 }).state).toBe(s);
    expect(step(s, { kind: 'socketClosed', conn: 0, code: 1006, reason: '', at: T0 }).state).toBe(s);
  });

  it('keeps a frame it does not handle itself for the app, and consumes the HeartBeat answer', () => {
    const { commands } = run(fresh(), { kind: 'started' }, welcome('A1'),
      frame({ Type: 3, ID: 'B1', Name: 'bob', Room: 'lobby', Content: 'connected' }), frame({ Type: 2 }));
    expect(emitted(commands).slice(-1)).toEqual([{ type: 'frame', frame: { ID: 'B1', Content: 'connected', SentAt: 1, Type: 3, Name: 'bob', Room: 'lobby' } }]);
  });
});

describe('client core: what the frames say about us', () => {
  const ready = () => run(fresh(), { kind: 'started' }, welcome('A1')).s;

  it('a Rename to us alone (no Room) is our name from now on, in ?name= next time', () => {
    const { s } = run(ready(), frame({ Type: 10, ID: 'A1', Name: 'alice2', OldName: 'alice', Ref: 9 }),
      frame({ Type: 10, ID: 'B1', Name: 'bobby', OldName: 'bob', Room: 'lobby' }));
    expect(s.name).toBe('alice2');
    const { commands } = run({ ...s, token: undefined }, { kind: 'socketClosed', conn: 1, code: 1006, reason: '' }, { kind: 'timerFired', name: 'retry' });
    expect(commands).toContainEqual({ kind: 'connect', conn: 2, url: 'ws://h/ws?name=alice2&room=lobby' });
  });

  it('a room we cannot get back into (an Error for its Join) is forgotten, and the app sees the Error', () => {
    const err = { Type: 5, Code: 'too_many_rooms', Content: 'at most 32 rooms', Ref: 1 };
    const { s, commands } = run(ready(), frame(err));
    expect([...s.rooms.keys()]).toEqual(['lobby']);
    expect(emitted(commands)).toEqual([{ type: 'frame', frame: { ID: '', SentAt: 1, ...err } }]);
  });

  it('a line without a Seq (a server without positions) goes to the app as it is', () => {
    const { commands } = run(ready(), frame({ Type: 1, ID: 'B1', Room: 'lobby', Content: 'hi' }), frame({ Type: 1, ID: 'B1', Room: 'lobby', Content: 'hi' }));
    expect(emitted(commands).filter((e) => (e as { type: string }).type === 'line')).toHaveLength(2);
  });

  it('a server notice (System, no ID) goes to the app; it is not a second welcome', () => {
    const { s, commands } = run(ready(), frame({ Type: 0, Content: 'server shutting down' }));
    expect(emitted(commands)).toEqual([{ type: 'frame', frame: { ID: '', Content: 'server shutting down', SentAt: 1, Type: 0 } }]);
    expect(s.id).toBe('A1');
  });
});

describe('client core: losing the link', () => {
  const ready = () => run(fresh(), { kind: 'started' }, welcome('A1'), frame({ Type: 6, ID: 'A1', Room: 'lobby', Seq: 41, Epoch: E })).s;

  it('a drop: everything in flight is void, retry after the backoff (500 ms, no jitter)', () => {
    const { s, commands } = run(ready(), { kind: 'socketClosed', conn: 1, code: 1006, reason: '', at: T0 + 20 });
    expect(commands).toEqual([
      { kind: 'clearTimer', name: 'connect' },
      { kind: 'clearTimer', name: 'ping' },
      { kind: 'clearTimer', name: 'dead' },
      { kind: 'clearTimer', name: 'req:1' },
      { kind: 'setTimer', name: 'retry', ms: 500 },
      { kind: 'emit', event: { type: 'link', link: { state: 'down', attempt: 1, retryAt: T0 + 520, code: 1006, reason: 'connection closed' } } },
    ]);
    expect(s.phase).toBe('down');
    expect(s.rooms.get('lobby')).toMatchObject({ joined: false, seq: 41, epoch: E });
  });

  it('the retry resumes: ?resume=TOKEN&since=ROOM:SEQ:EPOCH,… plus the name and room', () => {
    const { commands } = run(ready(), { kind: 'socketClosed', conn: 1, code: 1006, reason: '' }, { kind: 'timerFired', name: 'retry' });
    // rust was never confirmed (no Join reply): it has no position, so it is not in since.
    expect(commands.find((c) => c.kind === 'connect')).toEqual(
      { kind: 'connect', conn: 2, url: `ws://h/ws?resume=tok1&since=lobby:41:${E}&name=alice&room=lobby` });
  });

  it('a policy close (1008, 4xxx) holds: no retry until the user asks', () => {
    const { s, commands } = run(ready(), { kind: 'socketClosed', conn: 1, code: 4001, reason: 'go away' });
    expect(emitted(commands)).toEqual([{ type: 'link', link: { state: 'held', code: 4001, reason: 'go away' } }]);
    expect(commands.some((c) => c.kind === 'setTimer')).toBe(false);
    expect(step(s, { kind: 'retryNowAsked', at: T0 }).state).toBe(s); // the network coming back is no reason
    expect(step(s, { kind: 'reconnectAsked', at: T0 }).commands).toContainEqual(expect.objectContaining({ kind: 'connect', conn: 2 }));
  });

  it('no welcome in time: gives up on that socket and retries', () => {
    const { s, commands } = run(fresh(), { kind: 'started' }, { kind: 'timerFired', name: 'connect' });
    expect(commands).toContainEqual({ kind: 'disconnect', code: 4000, reason: 'no welcome in time' });
    expect(s.phase).toBe('down');
  });
});

describe('client core: requests and closing', () => {
  it('a request while not ready is refused at once, not queued', () => {
    const { commands } = run(fresh(), { kind: 'requestAsked', id: 4, frame: { Type: 8 } });
    expect(commands).toEqual([{ kind: 'reject', id: 4, code: 'not_connected', reason: 'not connected' }]);
  });

  it('a request is answered by the frame with its Ref, or refused by an Error with it', () => {
    const { commands } = run(fresh(), { kind: 'started' }, welcome('A1', { Rooms: ['lobby', 'rust'] }),
      { kind: 'requestAsked', id: 4, frame: { Type: 8 } }, { kind: 'requestAsked', id: 5, frame: { Type: 9, Room: 'x' } },
      frame({ Type: 8, Rooms: [], Total: 0, Ref: 1 }), frame({ Type: 5, Code: 'bad_cursor', Content: 'no', Ref: 2 }));
    expect(sent(commands)).toEqual([{ Type: 8, Ref: 1 }, { Type: 9, Room: 'x', Ref: 2 }]);
    expect(commands.filter((c) => c.kind === 'resolve' || c.kind === 'reject')).toEqual([
      { kind: 'resolve', id: 4, frame: { ID: '', Content: '', SentAt: 1, Type: 8, Rooms: [], Total: 0, Ref: 1 } },
      { kind: 'reject', id: 5, code: 'bad_cursor', reason: 'no' },
    ]);
  });

  it('closing fails what the server does not have yet, and every request', () => {
    const { s, commands } = run(fresh(), { kind: 'sendAsked', key: 'k1', room: 'lobby', content: 'hi' }, { kind: 'closeAsked' });
    expect(emitted(commands)).toEqual([
      { type: 'message', message: { key: 'k1', status: 'pending', room: 'lobby', content: 'hi' } },
      { type: 'message', message: { key: 'k1', status: 'failed', room: 'lobby', content: 'hi', code: 'closed', reason: 'the client was closed before the server had it' } },
      { type: 'link', link: { state: 'closed' } },
    ]);
    expect(s).toMatchObject({ phase: 'closed', outbox: [] });
    expect(step(s, { kind: 'started', at: T0 }).state).toBe(s);
  });

  it('refuses before queueing what the server would refuse: empty, too long, a bad room, a reused Key', () => {
    const { commands } = run(fresh(),
      { kind: 'sendAsked', key: 'a', room: 'lobby', content: '' },
      { kind: 'sendAsked', key: 'b', room: 'lobby', content: '😀'.repeat(4001) },
      { kind: 'sendAsked', key: 'c', room: 'no room', content: 'x' },
      { kind: 'sendAsked', key: 'd', room: 'lobby', content: 'x' },
      { kind: 'sendAsked', key: 'd', room: 'lobby', content: 'y' });
    expect(emitted(commands).map((e) => (e as { message: { key: string; code?: string } }).message)
      .map((m) => `${m.key}:${m.code ?? 'ok'}`)).toEqual(['a:empty_content', 'b:too_long', 'c:bad_room', 'd:ok', 'd:bad_key']);
    // 4000 emoji are 4000 characters (code points), not the 8000 UTF-16 units: accepted.
    expect(emitted(run(fresh(), { kind: 'sendAsked', key: 'e', room: 'lobby', content: '😀'.repeat(4000) }).commands))
      .toEqual([expect.objectContaining({ message: expect.objectContaining({ status: 'pending' }) })]);
  });
});

describe('client core: a Resync (several servers)', () => {
  it('reads History from its own Seq in the room, as after a Join that did not recover', () => {
    const { s } = run(fresh(), { kind: 'started' }, welcome('A1'), frame({ Type: 6, Room: 'lobby', Seq: 40, Epoch: E }));
    const r = run(s, frame({ Type: 14, Room: 'lobby', Seq: 55, Epoch: E }));
    expect(emitted(r.commands)).toContainEqual({ type: 'catchup', room: 'lobby', state: 'started', reason: 'resync' });
    expect(sent(r.commands)).toContainEqual(expect.objectContaining({ Type: 13, Room: 'lobby', After: 40 }));
  });

  it('ignores one for a room it is not in', () => {
    const { s } = run(fresh(), { kind: 'started' }, welcome('A1'));
    expect(step(s, { kind: 'frameReceived', conn: 1, at: T0, frame: { ID: '', Content: '', SentAt: 1, Type: 14, Room: 'go', Seq: 3, Epoch: E } as never }).state).toBe(s);
  });
});
