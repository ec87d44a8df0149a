// `npm run bench:reducer`: the cost of one reducer step must not grow with the
// rooms and connections it does not touch. States are built with `step` itself
// (`opened` events, the log's answers to their reads given at once), then a
// 10-member room's Broadcast is stepped many times, each step from the previous
// step's state, as the hub's scan does. Since the message log (issue 7) a line is
// two steps: `received` (checked, an append effect) and `appended` (delivered,
// acked); "broadcast µs/step" is the two together: the hub's whole work per line.
// Runs compiled (npm run bench:reducer builds first), as npm start runs the hub.
// --quick: fewer iterations; --json: one `RESULT {...}` line (bench/run.ts reads it).
import { Effect, HubEvent, closed, opened, received } from '../src/core/events';
import { HubState, Step, initialState, step } from '../src/core/reducer';
import { keySequence } from '../src/client/keys';

/** Steps an event and answers the reads it asks of the log at once: a room is new, with nothing in it yet. */
function settled(s: HubState, e: HubEvent): HubState {
  const r: Step = step(s, e);
  let next = r.state;
  for (const eff of r.effects) {
    if (eff.kind !== 'read') continue;
    next = step(next, {
      kind: 'readDone', at: 0, req: eff.req, purpose: eff.purpose,
      outcome: { ok: true, epoch: 'E', head: 0, first: 1, messages: [], more: false },
    }).state;
  }
  return next;
}

const MEMBERS = 10;

function build(rooms: number, others: number): HubState {
  let s = initialState();
  // The room that speaks: 10 members.
  for (let i = 0; i < MEMBERS; i++) s = settled(s, opened(`talk-${i}`, 0, { name: `t${i}`, room: 'talk' }));
  // The rest: `others` connections spread over rooms-1 other rooms, at least one each.
  const otherRooms = rooms - 1;
  const n = Math.max(others, otherRooms);
  for (let i = 0; i < n; i++) s = settled(s, opened(`c-${i}`, 0, { name: `c${i}`, room: `r${i % otherRooms}` }));
  return s;
}

/**
 * Where each timed step's effects go: the hub hands them to the runner, so they
 * must be built here too. Were they dropped, the optimising compiler could see
 * that and leave out the frames' allocation, and the step would look cheaper
 * than it is.
 */
let sink: readonly Effect[] = [];

/** ns per iteration of `body`, the median of 9 timed batches after a warm-up of 3. */
function time(iterations: number, body: (i: number) => void): number {
  // Three batches of warm-up: the optimising compiler and the first old-space
  // collections of the freshly built state settle there, and the first timed
  // batches were up to twice the later ones.
  for (let i = 0; i < 3 * iterations; i++) body(i);
  const batches: number[] = [];
  for (let b = 0; b < 9; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) body(i);
    batches.push(Number(process.hrtime.bigint() - t0) / iterations);
  }
  return batches.sort((a, b) => a - b)[4];
}

function main(): void {
  const quick = process.argv.includes('--quick');
  const json = process.argv.includes('--json');
  const iterations = quick ? 5_000 : 50_000;
  const rows: string[] = [];
  const bcast: number[] = [];
  const results: { rooms: number; others: number; broadcastUs: number; joinLeaveUs: number }[] = [];
  for (const rooms of [10, 1_000, 10_000]) {
    for (const others of [10, 10_000]) {
      const base = build(rooms, others);
      const actual = base.clients.size - MEMBERS;
      let s = base;
      const say: HubEvent = received('talk-0', 0, { type: 'broadcast', content: 'hello', room: 'talk', ref: undefined, key: undefined }, 'm');
      let seq = 0;
      const broadcastNs = time(iterations, () => {
        const r = step(s, say);
        const req = (r.effects[0] as Extract<Effect, { kind: 'append' }>).req;
        const d = step(r.state, { kind: 'appended', at: 0, req, ref: undefined, seq: ++seq, epoch: 'E', duplicateOf: undefined });
        s = d.state;
        sink = d.effects;
      });
      // A connection coming and going in the talking room: Connected and Disconnected to 10.
      let j = base;
      const churnNs = time(iterations / 2, (i) => {
        j = step(j, opened(`new-${i}`, 0, { name: 'n', room: 'talk' })).state;
        j = step(j, closed(`new-${i}`, 0, 'closed')).state;
      });
      bcast.push(broadcastNs);
      results.push({ rooms, others: actual, broadcastUs: broadcastNs / 1000, joinLeaveUs: churnNs / 1000 });
      rows.push(`| ${rooms.toLocaleString('en-US')} | ${actual.toLocaleString('en-US')} | ${(broadcastNs / 1000).toFixed(2)} | ${(churnNs / 1000).toFixed(2)} |`);
    }
  }
  const big = bigCases(quick);
  const table = [
    `Reducer step, ${MEMBERS}-member room (node ${process.version}; median of 9 batches of ${iterations.toLocaleString('en-US')}):`,
    '',
    '| rooms | connections in other rooms | broadcast µs/step | join+leave µs/pair |',
    '|---:|---:|---:|---:|',
    ...rows,
    '',
    verdict(Math.max(...bcast) / Math.min(...bcast)),
    '',
    'Requests whose cost once grew with the whole server (issue 11, 3):',
    '',
    '| case | µs | target |',
    '|---|---:|---:|',
    ...big,
  ].join('\n');
  if (json) process.stdout.write(`RESULT ${JSON.stringify({ node: process.version, iterations, results })}\n`);
  else process.stdout.write(`${table}\n`);
}

/**
 * The Rooms list with 32,768 rooms (1,024 connections in 32 rooms each), and a
 * join and a leave in a room of 10,000 members: each must cost what it lists or
 * touches, not what the server holds.
 */
function bigCases(quick: boolean): string[] {
  let s = initialState();
  for (let c = 0; c < 1_024; c++) {
    s = settled(s, opened(`c${c}`, 0, { room: `r${c}-0` }));
    for (let k = 1; k < 32; k++) s = settled(s, received(`c${c}`, 0, { type: 'join', room: `r${c}-${k}` }));
  }
  const asker = received('c0', 0, { type: 'rooms' });
  const roomsNs = time(quick ? 200 : 2_000, () => step(s, asker));

  let b = initialState();
  for (let i = 0; i < 10_000; i++) b = settled(b, opened(`m${i}`, 0, { name: `m${i}`, room: 'huge' }));
  const joinedStates: HubState[] = [];
  const n = quick ? 200 : 2_000;
  const joinNs = time(n, (i) => {
    joinedStates[i % n] = step(b, opened(`new-${i % n}`, 0, { name: 'n', room: 'huge' })).state;
  });
  const leaveNs = time(n, (i) => step(joinedStates[i % n], closed(`new-${i % n}`, 0, 'closed')));
  const keyedNs = keyedLine(quick);
  const row = (what: string, ns: number, target: string) => `| ${what} | ${(ns / 1000).toFixed(1)} | ${target} |`;
  return [
    row('a line with a Key (as our clients send every line), its sender past 256 Keys, 1,000 rooms', keyedNs, '–'),
    row(`Rooms list (Type 8), ${s.rooms.size.toLocaleString('en-US')} rooms`, roomsNs, '–'),
    row('join a room of 10,000 members', joinNs, '< 1,000'),
    row('leave a room of 10,001 members', leaveNs, '< 1,000'),
  ];
}

/**
 * A line's two steps when it carries a Key, as every line of src/client does: the hub notes the
 * Key when the line is sent and what it became when it is appended (recent-map.ts). The sender has
 * sent 300 keyed lines before, so each line also forgets an old Key. 1,000 rooms of 10 connections.
 */
function keyedLine(quick: boolean): number {
  let s = build(1_000, 10_000);
  let seq = 0;
  const nextKey = keySequence();
  const line = () => {
    const r = step(s, received('talk-0', 0, { type: 'broadcast', content: 'hello', room: 'talk', ref: undefined, key: nextKey() }, 'm'));
    const req = (r.effects[0] as Extract<Effect, { kind: 'append' }>).req;
    const d = step(r.state, { kind: 'appended', at: 0, req, ref: undefined, seq: ++seq, epoch: 'E', duplicateOf: undefined });
    s = d.state;
    sink = d.effects;
  };
  for (let i = 0; i < 300; i++) line();
  return time(quick ? 2_000 : 20_000, line);
}

/**
 * A persistent map is a tree 32 wide: from 10 to 10,000 entries a lookup goes one or
 * two levels deeper, so "flat" allows that much; a step that copied state per event
 * would grow 1,000-fold.
 */
function verdict(ratio: number): string {
  const flat = ratio <= 2.5;
  return `Broadcast, slowest ÷ fastest: ${ratio.toFixed(2)}× (${flat
    ? 'flat: at most the depth of the persistent maps, O(log32 n); untouched rooms and connections cost nothing'
    : 'NOT flat: the step grows with rooms or connections it does not touch'}).`;
}

main();
