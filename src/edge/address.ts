// Who is knocking: the client's address as the per-address limits count it
// (docs/security.md "The door").
import { isIP, isIPv4, isIPv6 } from 'node:net';

/** '::ffff:1.2.3.4' (an IPv4 peer on a dual-stack socket) is 1.2.3.4. */
function unmapped(ip: string): string {
  return /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip) ? ip.slice(7) : ip;
}

/** An X-Forwarded-For entry: an address, perhaps with a port (`1.2.3.4:5678`, `[2001:db8::1]:443`). */
function entryAddress(entry: string): string | undefined {
  const e = entry.trim();
  if (isIP(e)) return e;
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(e) ?? /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(e);
  return m && isIP(m[1]) ? m[1] : undefined;
}

/**
 * The client's address: the socket's peer, or with --trust-proxy the last X-Forwarded-For entry, the one
 * the proxy in front appended (the entries before it were sent by the client, who can write anything).
 * A request through the proxy without the header, or with a last entry that is not an address, counts
 * as the proxy's own address.
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, trustProxy: boolean): string {
  if (trustProxy && forwardedFor !== undefined) {
    // Node joins repeated X-Forwarded-For headers with ', ': the last entry is still the proxy's.
    const joined = Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor;
    const last = entryAddress(joined.slice(joined.lastIndexOf(',') + 1));
    if (last !== undefined) return unmapped(last);
  }
  return unmapped(peer ?? '');
}

/** An IPv6 address's eight groups, in lowercase hex without leading zeros. */
function groups6(ip: string): string[] {
  const addr = ip.split('%')[0].toLowerCase();
  const cut = addr.indexOf('::');
  const split = (s: string) => (s === '' ? [] : s.split(':'));
  // An embedded IPv4 address (64:ff9b::1.2.3.4) is two groups, always the last two.
  const v4 = (g: string[]) => g.flatMap((x) => {
    if (!x.includes('.')) return [x];
    const [a, b, c, d] = x.split('.').map(Number);
    return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
  });
  let all: string[];
  if (cut < 0) all = v4(split(addr));
  else {
    const head = v4(split(addr.slice(0, cut)));
    const tail = v4(split(addr.slice(cut + 2)));
    all = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  }
  return all.map((g) => parseInt(g, 16).toString(16));
}

/** 127.0.0.0/8 and ::1: this machine, whose bots and benchmarks the per-address limits leave alone by default. */
export function isLoopback(ip: string): boolean {
  const a = unmapped(ip);
  if (isIPv4(a)) return a.startsWith('127.');
  return isIPv6(a) && groups6(a).join(':') === '0:0:0:0:0:0:0:1';
}

/**
 * What the per-address limits count by: an IPv4 address, or an IPv6 address's /64 (one host is
 * usually given a whole /64, so counting single IPv6 addresses would count nothing).
 */
export function addressKey(ip: string): string {
  const a = unmapped(ip);
  return isIPv6(a) ? `${groups6(a).slice(0, 4).join(':')}::/64` : a;
}
