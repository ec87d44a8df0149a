// The reconnect policy moved to src/client/backoff.ts, next to the one client
// library that uses it (issue 7); this re-export keeps existing imports working.
export * from '../../src/client/backoff';
