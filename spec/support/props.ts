// fast-check settings shared by the property and fuzz specs (docs/security.md,
// "Fuzzing and properties"). Each property keeps a small run count so that
// `npm test` stays quick; a failure prints its seed and path (fast-check's own
// report), and the same counterexample comes back with
//   FC_SEED=<seed> FC_PATH=<path> npx jest spec/<file>
// FC_RUNS=<n> runs every property n times instead, for a longer hunt.
import fs from 'node:fs';
import path from 'node:path';
import type { Parameters } from 'fast-check';
import type { HubState } from '../../src/core/reducer';
import { biggest } from '../../src/core/room-sizes';

const int = (v: string | undefined): number | undefined => (v === undefined || v === '' ? undefined : Number(v));

/** Parameters for fc.assert: `numRuns` unless FC_RUNS says otherwise, and the seed and path FC_SEED/FC_PATH give. */
export function props<T>(numRuns: number): Parameters<T> {
  const seed = int(process.env.FC_SEED);
  const p = process.env.FC_PATH;
  return {
    numRuns: int(process.env.FC_RUNS) ?? numRuns,
    ...(seed === undefined ? {} : { seed }),
    ...(p ? { path: p } : {}),
    // The shrunk counterexample and the error it threw, in the report.
    includeErrorInReport: true,
  };
}

/** The error codes docs/protocol.md documents: the first column of the table under "## Errors". */
export function documentedCodes(): Set<string> {
  const doc = fs.readFileSync(path.join(__dirname, '../../docs/protocol.md'), 'utf8');
  const section = doc.slice(doc.indexOf('\n## Errors'), doc.indexOf('\n## ', doc.indexOf('\n## Errors') + 1));
  const codes = new Set<string>();
  for (const m of section.matchAll(/^\|\s*`([a-z_]+)`\s*\|/gm)) codes.add(m[1]);
  return codes;
}

/** A violation of an invariant: thrown, so fast-check shrinks to the shortest input that shows it. */
export function fail(what: string, detail: unknown): never {
  throw new Error(`${what}: ${JSON.stringify(detail)}`);
}

/** Rooms and clients agree, both ways; sizes and waiting lists agree with the rooms. */
export function checkState(s: HubState): void {
  for (const [name, room] of s.rooms) {
    if (room.name !== name) fail('a room under another name', name);
    if (room.members.length === 0) fail('an empty room kept', name);
    if (new Set(room.members).size !== room.members.length) fail('a member twice in a room', room.members);
    for (const id of room.members) {
      const c = s.clients.get(id);
      if (!c) fail(`a member of "${name}" that is no live client`, id);
      if (!c.rooms.includes(name)) fail(`a member of "${name}" that does not list it`, { id, rooms: c.rooms });
    }
    for (const w of room.waiting) if (!room.members.includes(w.id)) fail(`one waiting in "${name}" that is not a member`, w);
  }
  for (const [id, c] of s.clients) {
    if (c.id !== id) fail('a client under another ID', id);
    if (new Set(c.rooms).size !== c.rooms.length) fail('a room twice in a client', c.rooms);
    for (const name of c.rooms) if (!s.rooms.get(name)?.members.includes(id)) fail(`a client that lists "${name}" and is not in it`, id);
    if (s.away.has(id)) fail('a live client also away', id);
  }
  // With auth on: the index of users is exactly the live clients' users (a Direct To a user reaches them all).
  for (const [user, ids] of s.users) {
    if (ids.length === 0) fail('a user kept with no connection', user);
    if (new Set(ids).size !== ids.length) fail('a connection twice under a user', { user, ids });
    for (const id of ids) if (s.clients.get(id)?.user !== user) fail('a user\'s connection that is not a live client of that user', { user, id });
  }
  for (const [id, c] of s.clients) {
    if (c.user !== undefined && !s.users.get(c.user)?.includes(id)) fail('a client of a user missing from the index', { id, user: c.user });
  }
  const sizes = biggest(s.sizes, 1000).map((x) => `${x.Room}:${x.Count}`).sort();
  const real = [...s.rooms.values()].map((r) => `${r.name}:${r.members.length}`).sort();
  if (sizes.join() !== real.join()) fail('room sizes that are not the rooms\'', { sizes, real });
  // The order identities left (HubState.leaving): each away one there once as its current entry (its own
  // client), and those in the order their windows end, which is the order expire forgets them.
  const current = [...s.leaving].filter((a) => s.away.get(a.client.id)?.client === a.client);
  if (current.length !== s.away.size) fail('away identities and their current entries in leaving differ', { away: s.away.size, current: current.length });
  for (let i = 1; i < current.length; i++) if (current[i].until < current[i - 1].until) fail('leaving out of the order windows end', current.map((a) => a.until));
  let bytes = 0;
  for (const a of s.away.values()) bytes += a.bytes;
  if (bytes !== s.awayBytes) fail('awayBytes that is not the sum of the away identities\' Directs', { bytes, awayBytes: s.awayBytes });
}

