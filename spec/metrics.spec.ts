// src/ops/metrics.ts on its own: what the hooks count and how labels stay bounded.
// The server end to end is spec/metrics.int.spec.ts.
import { MAX_LABELS, Metrics } from '../src/ops/metrics';
import { closeCodeOf } from '../src/edge/connection';
import { received, rejected } from '../src/core/events';
import { BINARY_FRAME, type Message } from '../src/core/protocol';

let m: Metrics;
beforeEach(() => { m = new Metrics({ connections: () => 3, rooms: () => 2 }); });
afterEach(() => m.close());

/** name{labels} → value, from the text format. */
async function samples(): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const line of (await m.scrape()).body.split('\n')) {
    const s = /^(\S+) (\S+)$/.exec(line);
    if (s && !line.startsWith('#')) out.set(s[1], Number(s[2]));
  }
  return out;
}

const errorFrame = (code: string): Message => ({ ID: '', Content: 'no', SentAt: 0, Type: 5, Code: code });

it('counts frames by the Type they decoded to, and refused ones as invalid', async () => {
  m.frame(received('a', 0, { type: 'broadcast', content: 'hi' }));
  m.frame(received('a', 0, { type: 'join', room: 'dev' }));
  m.frame(received('a', 0, { type: 'join', room: 'ops' }));
  m.frame(rejected('a', 0, BINARY_FRAME));
  const s = await samples();
  expect(s.get('rxchat_frames_received_total{type="1"}')).toBe(1);
  expect(s.get('rxchat_frames_received_total{type="6"}')).toBe(2);
  expect(s.get('rxchat_frames_received_total{type="invalid"}')).toBe(1);
  expect(s.get('rxchat_connections')).toBe(3);
  expect(s.get('rxchat_rooms')).toBe(2);
});

it('adds a broadcast\'s recipients in one call, and counts Error frames by Code', async () => {
  m.delivered(5000, { ID: 'x', Content: 'hi', SentAt: 0, Type: 1 });
  m.delivered(1, errorFrame('bad_json'));
  const s = await samples();
  expect(s.get('rxchat_deliveries_total')).toBe(5001);
  expect(s.get('rxchat_errors_sent_total{code="bad_json"}')).toBe(1);
});

it('keeps each label to MAX_LABELS values, counting the rest as other', async () => {
  for (let i = 0; i < MAX_LABELS + 10; i++) m.delivered(1, errorFrame(`code_${i}`));
  m.closed(1000);
  m.closed(3999); // a code a client may choose: not a label of its own
  m.closed(4008);
  const s = await samples();
  const codes = [...s.keys()].filter((k) => k.startsWith('rxchat_errors_sent_total'));
  expect(codes).toHaveLength(MAX_LABELS + 1);
  expect(s.get('rxchat_errors_sent_total{code="other"}')).toBe(10);
  expect(s.get('rxchat_closes_total{code="1000"}')).toBe(1);
  expect(s.get('rxchat_closes_total{code="4008"}')).toBe(1);
  expect(s.get('rxchat_closes_total{code="other"}')).toBe(1);
});

it('times a step from the reducer to stepDone, and the log\'s batches, as histograms', async () => {
  const step = m.timed((state: number, event: number) => state + event);
  expect(step(1, 2)).toBe(3);
  m.stepDone();
  m.logBatch(3);
  const s = await samples();
  expect(s.get('rxchat_hub_step_seconds_count')).toBe(1);
  expect(s.get('rxchat_hub_step_seconds_bucket{le="0.05"}')).toBe(1);
  expect(s.get('rxchat_log_batch_seconds_bucket{le="0.0025"}')).toBe(0);
  expect(s.get('rxchat_log_batch_seconds_bucket{le="0.005"}')).toBe(1);
  expect(s.get('rxchat_log_batch_seconds_sum')).toBeCloseTo(0.003);
});

it('has the counters other parts call, at 0 until they do', async () => {
  expect((await samples()).get('rxchat_rate_limited_total')).toBe(0);
  m.rateLimited();
  m.upgradeRefused('origin');
  m.slowDropped();
  const s = await samples();
  expect(s.get('rxchat_rate_limited_total')).toBe(1);
  expect(s.get('rxchat_upgrade_refusals_total{reason="origin"}')).toBe(1);
  expect(s.get('rxchat_slow_consumer_drops_total')).toBe(1);
});

it('names the close code ws cuts a socket with for each of its errors', () => {
  const wsError = (code: string) => Object.assign(new RangeError('x'), { code });
  expect(closeCodeOf(wsError('WS_ERR_UNSUPPORTED_MESSAGE_LENGTH'))).toBe(1009);
  expect(closeCodeOf(wsError('WS_ERR_INVALID_UTF8'))).toBe(1007);
  expect(closeCodeOf(wsError('WS_ERR_INVALID_OPCODE'))).toBe(1002);
  expect(closeCodeOf(wsError('ECONNRESET'))).toBe(1006);
});
