// Random idempotency Keys (protocol.md "Sending twice": a random string per message).
// globalThis.crypto.getRandomValues is in every browser and in Node 20, so neither
// side needs an import; both configs see it through this narrow type.

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';

interface RandomSource {
  getRandomValues<A extends Uint8Array>(array: A): A;
}

/** 21 characters of 64, as nanoid: 126 random bits, URL-safe. 64 divides 256, so `& 63` is unbiased. */
export function randomKey(size = 21, source?: RandomSource): string {
  const crypto = source ?? (globalThis as unknown as { crypto?: RandomSource }).crypto;
  if (!crypto) throw new Error('no crypto.getRandomValues: pass newKey to the client');
  const bytes = crypto.getRandomValues(new Uint8Array(size));
  let key = '';
  for (const b of bytes) key += ALPHABET[b & 63];
  return key;
}

/**
 * Keys for one client: a random 14-character prefix, then a counter in base 36
 * padded to 7, so 21 characters in all and still unguessable as a set. A client's
 * keys sort together and in order, so the log's index of (room, key) takes each
 * new one next to the last instead of on a random page: with random keys on
 * every line, bench:store measured appends at about twice the cost (docs/storage.md).
 */
export function keySequence(source?: RandomSource): () => string {
  const prefix = randomKey(14, source);
  let n = 0;
  return () => prefix + (n++).toString(36).padStart(7, '0');
}
