// The door's pieces without a server: origins, addresses, the per-address limits and
// their bounds, and the counting of refusals (docs/security.md "The door").
import type { IncomingMessage } from 'node:http';
import { addressKey, clientAddress, isLoopback } from '../src/edge/address';
import { AddressLimits, Door } from '../src/edge/door';
import { normalizeOrigins, originAllowed, originSet } from '../src/edge/origin';

const own = originSet('');
const listed = (l: string) => originSet(normalizeOrigins(l));

describe('origins', () => {
  it('takes any client that sends no Origin (not a browser)', () => {
    expect(originAllowed(undefined, 'chat.example.com', own)).toBe(true);
    expect(originAllowed(undefined, undefined, listed('https://a.example'))).toBe(true);
  });

  it('by default takes a page from the request\'s own host and port, whatever the scheme', () => {
    expect(originAllowed('http://chat.example.com:8080', 'chat.example.com:8080', own)).toBe(true);
    expect(originAllowed('https://Chat.Example.com', 'chat.example.com:443', own)).toBe(true);
    expect(originAllowed('http://chat.example.com', 'chat.example.com', own)).toBe(true);
    expect(originAllowed('https://chat.example.com', 'chat.example.com', own)).toBe(true);
  });

  it('by default refuses another host, another port, null, and junk', () => {
    expect(originAllowed('https://evil.example', 'chat.example.com', own)).toBe(false);
    expect(originAllowed('http://chat.example.com:8081', 'chat.example.com:8080', own)).toBe(false);
    expect(originAllowed('https://chat.example.com.evil.example', 'chat.example.com', own)).toBe(false);
    expect(originAllowed('null', 'chat.example.com', own)).toBe(false);
    expect(originAllowed('not a url', 'chat.example.com', own)).toBe(false);
    expect(originAllowed('https://chat.example.com', undefined, own)).toBe(false);
    expect(originAllowed('https://x', 'x@evil', own)).toBe(false);
  });

  it('with a list, takes exactly the listed scheme, host and port (own host no longer implied)', () => {
    const allowed = listed(' https://A.example , http://localhost:3000/ ');
    expect(originAllowed('https://a.example', 'chat.example.com', allowed)).toBe(true);
    expect(originAllowed('https://a.example:443', 'x', allowed)).toBe(true);
    expect(originAllowed('http://a.example', 'x', allowed)).toBe(false);
    expect(originAllowed('http://localhost:3000', 'x', allowed)).toBe(true);
    expect(originAllowed('http://localhost:3001', 'x', allowed)).toBe(false);
    expect(originAllowed('http://chat.example.com', 'chat.example.com', allowed)).toBe(false);
    expect(originAllowed('null', 'x', listed('*'))).toBe(true);
  });

  it('refuses a list entry that is not an origin, saying which', () => {
    for (const bad of ['foo', 'https://a.example/path', 'https://u:p@a.example', 'https://a.example?x=1']) {
      expect(() => normalizeOrigins(bad)).toThrow(bad);
    }
    expect(normalizeOrigins('https://a.example:443,*')).toBe('https://a.example,*');
  });
});

describe('addresses', () => {
  it('is the socket\'s peer, or with --trust-proxy the last X-Forwarded-For entry', () => {
    expect(clientAddress('::ffff:10.0.0.1', '1.1.1.1', false)).toBe('10.0.0.1');
    expect(clientAddress('127.0.0.1', '6.6.6.6, 2.2.2.2', true)).toBe('2.2.2.2');
    expect(clientAddress('127.0.0.1', ['6.6.6.6', '[2001:db8::2]:443'], true)).toBe('2001:db8::2');
    expect(clientAddress('127.0.0.1', '3.3.3.3:5678', true)).toBe('3.3.3.3');
    // Not an address: the proxy's own.
    expect(clientAddress('10.0.0.9', '6.6.6.6, junk', true)).toBe('10.0.0.9');
    expect(clientAddress('10.0.0.9', undefined, true)).toBe('10.0.0.9');
  });

  it('knows loopback, and counts IPv6 by /64', () => {
    for (const a of ['127.0.0.1', '127.9.9.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) expect(isLoopback(a)).toBe(true);
    for (const a of ['10.0.0.1', '::', '::2', '2001:db8::1']) expect(isLoopback(a)).toBe(false);
    expect(addressKey('2001:db8:0:0:1::1')).toBe('2001:db8:0:0::/64');
    expect(addressKey('2001:DB8::ffff')).toBe('2001:db8:0:0::/64');
    expect(addressKey('2001:db8:a:b:c:d:e:f')).toBe('2001:db8:a:b::/64');
    expect(addressKey('1.2.3.4')).toBe('1.2.3.4');
  });
});

describe('AddressLimits', () => {
  it('refuses past the connections open at once, and again takes one when one closes', () => {
    const l = new AddressLimits({ maxOpen: 2, perMinute: 0 });
    expect(l.take('a', 0).ok).toBe(true);
    expect(l.take('a', 0).ok).toBe(true);
    expect(l.take('a', 0)).toEqual({ ok: false, refusal: 'conns_per_ip' });
    expect(l.take('b', 0).ok).toBe(true);
    l.release('a');
    expect(l.take('a', 0).ok).toBe(true);
    l.release('a');
    l.release('a');
    l.release('b');
    expect(l.tracked.open).toBe(0);
  });

  it('refuses past perMinute new connections at once, with the seconds to wait, and refills at perMinute a minute', () => {
    const l = new AddressLimits({ maxOpen: 0, perMinute: 3 });
    for (let i = 0; i < 3; i++) expect(l.take('a', 0).ok).toBe(true);
    expect(l.take('a', 0)).toEqual({ ok: false, refusal: 'conn_rate_per_ip', retryAfterS: 20 });
    expect(l.take('a', 19_000).ok).toBe(false);
    expect(l.take('a', 20_000).ok).toBe(true);
    expect(l.take('a', 20_000).ok).toBe(false);
  });

  it('holds at most maxTracked addresses however many knock, and forgets one untouched for a minute', () => {
    const l = new AddressLimits({ maxOpen: 0, perMinute: 10, maxTracked: 100 });
    for (let i = 0; i < 10_000; i++) l.take(`10.0.${i >> 8}.${i & 255}`, i);
    expect(l.tracked.buckets).toBe(100);
    const later = new AddressLimits({ maxOpen: 0, perMinute: 10 });
    for (let i = 0; i < 50; i++) later.take(`a${i}`, 0);
    // Each check forgets two buckets that would be full again.
    for (let i = 0; i < 25; i++) later.take('z', 60_000);
    expect(later.tracked.buckets).toBe(1);
  });
});

describe('Door', () => {
  const req = (headers: Record<string, string>, peer = '203.0.113.7') =>
    ({ headers, socket: { remoteAddress: peer } }) as unknown as IncomingMessage;
  const base = { allowedOrigins: '', maxConnsPerIp: 1, connRatePerIp: 0, maxConnections: 2, trustProxy: false, limitLoopback: false };

  it('counts the open connections, exempts loopback, and releases once', () => {
    const door = new Door({ ...base, log: () => undefined });
    const a = door.admit(req({}));
    expect(a.ok).toBe(true);
    expect(door.admit(req({}))).toMatchObject({ ok: false, refusal: 'conns_per_ip', address: '203.0.113.7' });
    const b = door.admit(req({}, '127.0.0.1'));
    expect(b.ok).toBe(true);
    expect(door.admit(req({}, '127.0.0.1'))).toMatchObject({ ok: false, refusal: 'max_connections' });
    if (a.ok) { a.release(); a.release(); }
    expect(door.connections).toBe(1);
    expect(door.admit(req({ origin: 'https://evil.example', host: 'chat.example.com' }))).toMatchObject({ ok: false, refusal: 'origin' });
  });

  it('counts every refusal, and logs a reason once a minute at most, at info', () => {
    const lines: [string, string, Record<string, unknown> | undefined][] = [];
    let now = 0;
    const door = new Door({ ...base, log: (level, event, fields) => lines.push([level, event, fields]), now: () => now });
    for (let i = 0; i < 1000; i++) door.counted('origin', '203.0.113.7');
    door.counted('max_connections');
    expect(door.refused).toMatchObject({ origin: 1000, max_connections: 1, conns_per_ip: 0 });
    expect(lines.map(([l, e, f]) => [l, e, f?.reason, f?.count])).toEqual([['info', 'refused', 'origin', 1], ['info', 'refused', 'max_connections', 1]]);
    now = 60_000;
    door.counted('origin');
    expect(lines[2][2]).toMatchObject({ reason: 'origin', status: 403, count: 1000 });
  });
});
