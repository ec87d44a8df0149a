// The hub's side of issue 9's limits: a room of --max-room-members refuses a Join
// (room_full; with several processes counted over every node, by presence), and a
// connection the edge found flooding is closed with 4029 (protocol.md "Message rate").
import * as M from '../src/core/messages';
import { close, flooded, opened, received, rejected, send } from '../src/core/events';
import { Close, rateLimited } from '../src/core/protocol';
import { initialState } from '../src/core/reducer';
import { stepFrozen, withoutLogs } from './support/marbles';
import { FakeLog, runWithLog } from './support/fake-log';
import { msg } from './support/outgoing';

const A = 'alice-id';
const B = 'bob-id';
const C = 'carol-id';
const tk = (name: string) => name.padEnd(32, '_');
const two = initialState({ maxRoomMembers: 2 });

describe('reducer: --max-room-members', () => {
  const full = () => runWithLog([opened(A, 0, { name: 'alice' }), opened(B, 0, { name: 'bob', room: 'dev' }), received(B, 1, { type: 'join', room: 'lobby' })], two).state;

  it('refuses a Join of a full room: room_full with its Ref, the room and the joiner unchanged', () => {
    const before = full();
    const withCarol = runWithLog([opened(C, 2, { name: 'carol', room: 'dev' })], before).state;
    const r = stepFrozen(withCarol, received(C, 3, { type: 'join', room: 'lobby', ref: 'j' }));
    expect(r.state).toBe(withCarol);
    expect(withoutLogs(r.effects)).toEqual([send(C, M.error({ code: 'room_full', reason: expect.stringContaining('2 members'), ref: 'j' }, 3))]);
  });

  it('a room with a place left takes the Join', () => {
    const { state } = runWithLog([opened(A, 0, { name: 'alice' }), opened(B, 0, { name: 'bob' })], two);
    expect(state.rooms.get('lobby')?.members).toEqual([A, B]);
  });

  it('a new connection whose ?room= is full is welcomed in no room and told why', () => {
    const { state, effects } = runWithLog([opened(C, 2, { name: 'carol' })], full());
    expect(effects).toEqual([
      send(C, M.welcome(C, 'carol', [], 2, `${C}.tok-${C}`)),
      send(C, M.error({ code: 'room_full', reason: expect.any(String) }, 2)),
    ]);
    expect(state.clients.get(C)?.rooms).toEqual([]);
    expect(state.rooms.get('lobby')?.members).toEqual([A, B]);
  });

  it('0 is no limit', () => {
    const { state } = runWithLog([opened(A, 0), opened(B, 0), opened(C, 0)], initialState({ maxRoomMembers: 0 }));
    expect(state.rooms.get('lobby')?.members.length).toBe(3);
  });

  it('several processes: a room full over every node refuses the Join (presence counts), and nobody hears of it', () => {
    const log = new FakeLog();
    // Two members on another node; alice here is in dev.
    log.presence.add('lobby', 'x1', 'x1').add('lobby', 'x2', 'x2');
    const cluster = initialState({ cluster: true, maxRoomMembers: 2 });
    const { state } = runWithLog([opened(A, 0, { name: 'alice', room: 'dev' }, tk('a'))], cluster, log);
    const r = runWithLog([received(A, 1, { type: 'join', room: 'lobby', ref: 'j' })], state, log);
    expect(r.askedPresence[0].ask).toMatchObject({ op: 'join', room: 'lobby', max: 2 });
    expect(r.effects).toContainEqual(send(A, M.error({ code: 'room_full', reason: expect.any(String), ref: 'j' }, 1)));
    expect(r.effects.some((e) => e.kind === 'send' && msg(e.message).Type === 6)).toBe(false);
    expect(r.state.clients.get(A)?.rooms).toEqual(['dev']);
    expect(r.state.rooms.has('lobby')).toBe(false);
    expect([...(log.presence.rooms.get('lobby')?.keys() ?? [])]).toEqual(['x1', 'x2']);
  });
});

describe('reducer: the message rate', () => {
  const lobby = () => runWithLog([opened(A, 0, { name: 'alice' }), opened(B, 0, { name: 'bob' })]).state;

  it('a frame refused over the rate gets rate_limited with RetryMs, and changes nothing', () => {
    const before = lobby();
    const r = stepFrozen(before, rejected(A, 5, rateLimited(120, 'r')));
    expect(r.state).toBe(before);
    expect(withoutLogs(r.effects)).toEqual([send(A, M.error(rateLimited(120, 'r'), 5))]);
    expect(M.error(rateLimited(120, 'r'), 5)).toMatchObject({ Type: 5, Code: 'rate_limited', RetryMs: 120, Ref: 'r' });
  });

  it('a flooding connection is closed with 4029, and changes nothing till it closes', () => {
    const before = lobby();
    const r = stepFrozen(before, flooded(A, 10_000));
    expect(r.state).toBe(before);
    expect(withoutLogs(r.effects)).toEqual([close(A, Close.RateLimited, expect.stringContaining('rate_limited'))]);
    expect(Close.RateLimited).toBe(4029);
  });
});
