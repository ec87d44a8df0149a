// Which web pages may open a WebSocket here (docs/security.md "The door"). A browser
// sends the page's origin with every upgrade and lets any page connect anywhere, with
// the user's cookies: without this check, any site its users visit could chat as them
// (cross-site WebSocket hijacking). Clients that are not browsers send no Origin, and
// could send any, so for them the check neither helps nor hinders.

/** `scheme://host[:port]`, lowercased, the scheme's default port dropped: how a listed origin and a request's are compared. */
function originKey(u: URL): string {
  // Not u.origin: that is 'null' for schemes URL does not know (chrome-extension://...).
  return `${u.protocol}//${u.host}`;
}

/**
 * --allowed-origins as given (`https://a.example, http://localhost:3000` or `*`) in the form the
 * server compares; '' stays '' (the default: the request's own host). Throws a message naming what is
 * not an origin (a path, a query, credentials, no scheme).
 */
export function normalizeOrigins(list: string): string {
  const out: string[] = [];
  for (const raw of list.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    if (raw === '*') {
      out.push('*');
      continue;
    }
    const u = URL.canParse(raw) ? new URL(raw) : undefined;
    const bare = u !== undefined && u.host !== '' && u.username === '' && u.password === ''
      && (u.pathname === '/' || u.pathname === '') && u.search === '' && u.hash === '';
    if (!bare) throw new Error(`expected origins such as https://chat.example.com or http://localhost:8080 (scheme, host, optional port), or *; got "${raw}"`);
    out.push(originKey(u));
  }
  return out.join(',');
}

/** A Host header as a browser sends it: a name or address and an optional port, nothing else. */
const HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:\d{1,5})?$/i;

/** normalizeOrigins' output as the set originAllowed takes (empty: the request's own host). */
export const originSet = (normalized: string): ReadonlySet<string> => new Set(normalized.split(',').filter((s) => s !== ''));

/**
 * Whether an upgrade with this Origin may go on. No Origin: yes (not a browser). `allowed` is
 * originSet's output: empty means the request's own host (the Origin's host and port equal the
 * Host header's, the port defaulting by the Origin's scheme; the scheme itself is not compared, as a
 * TLS proxy in front hides it); otherwise the Origin's scheme, host and port equal one listed, or `*` is.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: ReadonlySet<string>): boolean {
  if (origin === undefined) return true;
  if (allowed.has('*')) return true;
  // 'null' (a sandboxed frame, a file:// page) and anything else URL cannot read is foreign.
  if (!URL.canParse(origin)) return false;
  const o = new URL(origin);
  if (o.host === '') return false;
  if (allowed.size > 0) return allowed.has(originKey(o));
  if (host === undefined || !HOST.test(host)) return false;
  // The Host header read with the Origin's scheme, so that its default port drops alike (example.com:443 for https).
  const h = `${o.protocol}//${host}`;
  return URL.canParse(h) && new URL(h).host === o.host;
}
