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
