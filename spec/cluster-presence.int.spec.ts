// Presence across servers on Redis (issue 8 items 4 and 6; docs/scaling.md "Presence across
// nodes", "A node dies"): real `ws` clients on two in-process servers sharing one Redis. A Join
// reply and Members list every member on either server, Rooms counts them all, comings, goings
// and renames reach the other server's members, and a server whose presence dies has its members
// removed by the survivor, whose clients are told (Reason node_down) within a short test TTL.
import { ChatServer, ServerOptions, startServer } from '../src/edge/server';
import type { Message } from '../src/core/protocol';
import { RedisPresence } from '../src/cluster/presence';
import { RedisLog } from '../src/store/redis';
import { TestClient } from './support/client';
import { admin, closeAdmin, deleteKeys, testUrl, uniquePrefix } from './support/redis';
import { ServerProcess, startServerProcess } from './support/server-process';

const RETENTION = { maxPerRoom: 10_000, maxDays: 30 };
/** Short timings: a dead node's alive key lasts 600 ms, and the others sweep every 150 ms. */
const TTL_MS = 600;
const EVERY_MS = 150;
let prefix: string;
const servers: ChatServer[] = [];
const clients: TestClient[] = [];

beforeAll(async () => { await admin(); });
beforeEach(() => { prefix = uniquePrefix(); });
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await Promise.all(servers.splice(0).map((s) => s.close(500)));
  await deleteKeys(prefix);
});
afterAll(() => closeAdmin());

/** A server with the short timings, and its presence, which a spec may kill: the node then stops beating, as a dead one does. */
async function mortal(name: string, extra: Partial<ServerOptions> = {}, ttlMs = TTL_MS): Promise<{ server: ChatServer; presence: RedisPresence }> {
  // The sweeper's deadAfterMs defaults to its own ttlMs: every node gets the short one.
  const presence = await RedisPresence.connect(testUrl(), { nodeId: name, prefix, ttlMs });
  const messages = await RedisLog.connect(testUrl(), RETENTION, { prefix });
  const server = await startServer({
    port: 0, host: '127.0.0.1', log: () => undefined, messages, redis: testUrl(), redisPrefix: prefix, nodeId: name,
    presence, presenceEveryMs: EVERY_MS, ...extra,
  });
  servers.push(server);
  return { server, presence };
}

async function node(name: string): Promise<ChatServer> {
  return (await mortal(name)).server;
}

/** Connects and returns the client with its first room's Join reply. */
async function enter(s: { url: string }, name: string): Promise<{ c: TestClient; joined: Message }> {
  const c = TestClient.raw(`${s.url}?name=${name}`);
  clients.push(c);
  const welcome = await c.next((m) => m.Type === 0);
  c.id = welcome.ID;
  c.welcome = welcome;
  return { c, joined: await c.next((m) => m.Type === 6) };
}

async function connect(s: { url: string }, name: string): Promise<TestClient> {
  return (await enter(s, name)).c;
}

/** Waits (bounded) until Redis has `n` subscribers on a room's channel. */
async function listening(n: number, room = 'lobby'): Promise<void> {
  const redis = await admin();
  const channel = `${prefix}{${room}}:live`;
  for (let i = 0; i < 300; i++) {
    const [, count] = (await redis.pubsub('NUMSUB', channel)) as [string, number];
    if (Number(count) === n) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${channel} never had ${n} subscribers`);
}

const names = (m: Message) => (m.Members as { Name: string }[]).map((x) => x.Name);

describe('presence across two servers', () => {
  it('lists and counts every member on either server in the Join reply and in Members, in join order', async () => {
    const one = await node('one');
    const two = await node('two');
    const a = await enter(one, 'alice');
    expect(a.joined).toMatchObject({ Room: 'lobby', Count: 1 });
    const b = await enter(two, 'bob');
    expect(b.joined).toMatchObject({ Room: 'lobby', Count: 2 });
    expect(names(b.joined)).toEqual(['alice', 'bob']);
    await connect(one, 'carol');
    const list = await b.c.request({ Type: 9, Room: 'lobby' }, 9);
    expect(list).toMatchObject({ Room: 'lobby', Count: 3 });
    expect(names(list)).toEqual(['alice', 'bob', 'carol']);
    // A cursor that is no member is the documented bad_cursor, as on one server.
    expect(await b.c.request({ Type: 9, Room: 'lobby', After: 'nobody' }, 9)).toMatchObject({ Type: 5, Code: 'bad_cursor' });
    // Joining again answers as a first join: every member, the room's position.
    expect(names(await a.c.request({ Type: 6, Room: 'lobby' }, 6))).toEqual(['alice', 'bob', 'carol']);
  });

  it('counts every server\'s members in the Rooms list', async () => {
    const one = await node('one');
    const two = await node('two');
    const a = await connect(one, 'alice');
    const b = await connect(two, 'bob');
    await connect(two, 'carol');
    await a.request({ Type: 6, Room: 'rust' }, 6);
    await b.request({ Type: 6, Room: 'rust' }, 6);
    const rooms = await a.request({ Type: 8 }, 8);
    expect(rooms).toMatchObject({ Total: 2, Rooms: [{ Room: 'lobby', Count: 3 }, { Room: 'rust', Count: 2 }] });
  });

  it('tells each server\'s members of comings, renames and goings on the other', async () => {
    const one = await node('one');
    const two = await node('two');
    const a = await connect(one, 'alice');
    await listening(1);
    const b = await connect(two, 'bob');
    expect(await a.next((m) => m.Type === 3)).toMatchObject({ ID: b.id, Name: 'bob', Room: 'lobby' });
    await listening(2);
    expect(await b.request({ Type: 10, Name: 'bobby' }, 10)).toMatchObject({ Name: 'bobby', OldName: 'bob' });
    expect(await a.next((m) => m.Type === 10)).toMatchObject({ ID: b.id, Name: 'bobby', OldName: 'bob', Room: 'lobby' });
    await a.request({ Type: 7, Room: 'lobby' }, 7);
    expect(await b.next((m) => m.Type === 4)).toMatchObject({ ID: a.id, Name: 'alice', Room: 'lobby', Reason: 'left' });
    // Nobody hears of themselves.
    expect(a.frames.filter((m) => (m.Type === 3 || m.Type === 4) && m.ID === a.id)).toEqual([]);
    expect(b.frames.filter((m) => (m.Type === 3 || m.Type === 4 || m.Type === 10) && m.ID === b.id)).toEqual([]);
  });

  it('tells the members of a server that stops that its members left (Reason shutdown)', async () => {
    const one = await node('one');
    const two = await node('two');
    const a = await connect(one, 'alice');
    const b = await connect(two, 'bob');
    await listening(2);
    await one.close(500);
    expect(await b.next((m) => m.Type === 4)).toMatchObject({ ID: a.id, Room: 'lobby', Reason: 'shutdown' });
    expect(await b.request({ Type: 9, Room: 'lobby' }, 9)).toMatchObject({ Count: 1 });
  });

  it('removes the members of a server that dies, and tells the survivor\'s members (Reason node_down) within the TTL and a sweep', async () => {
    const one = await mortal('one');
    const two = await node('two');
    const a = await connect(one.server, 'alice');
    const b = await connect(two, 'bob');
    await listening(2);
    const died = Date.now();
    one.presence.kill();
    const gone = await b.next((m) => m.Type === 4, 5000);
    expect(gone).toMatchObject({ ID: a.id, Name: 'alice', Room: 'lobby', Reason: 'node_down' });
    // The TTL, a sweep interval and the sweep itself, with room to spare on a busy machine.
    expect(Date.now() - died).toBeLessThan(TTL_MS + 4 * EVERY_MS + 1500);
    expect(names(await b.request({ Type: 9, Room: 'lobby' }, 9))).toEqual(['bob']);
    expect(await b.request({ Type: 8 }, 8)).toMatchObject({ Total: 1, Rooms: [{ Room: 'lobby', Count: 1 }] });
  });

  it('clears what a dead server left under its --node-id when it starts again with that ID, before anyone swept it', async () => {
    // A TTL no sweep reaches within the spec: only the restart can clear alice.
    const first = await mortal('one', {}, 60_000);
    const two = (await mortal('two', {}, 60_000)).server;
    const a = await connect(first.server, 'alice');
    const b = await connect(two, 'bob');
    await listening(2);
    first.presence.kill();
    await mortal('one', {}, 60_000);
    expect(await b.next((m) => m.Type === 4)).toMatchObject({ ID: a.id, Room: 'lobby', Reason: 'node_down' });
    expect(names(await b.request({ Type: 9, Room: 'lobby' }, 9))).toEqual(['bob']);
  });
});

describe('a server process killed with SIGKILL, with the default timings', () => {
  let killed: ServerProcess | undefined;
  afterEach(async () => {
    if (killed && killed.child.exitCode === null && killed.child.signalCode === null) killed.child.kill('SIGKILL');
    await killed?.exited;
    killed = undefined;
  });

  // issue 8 item 6: its members leave presence within 30 s, and the survivors' members are told.
  it('has its members removed by the survivor, whose members get Disconnected (node_down) within 30 s', async () => {
    killed = await startServerProcess(['--redis', testUrl(), '--redis-prefix', prefix, '--node-id', 'doomed']);
    const messages = await RedisLog.connect(testUrl(), RETENTION, { prefix });
    const survivor = await startServer({
      port: 0, host: '127.0.0.1', log: () => undefined, messages, redis: testUrl(), redisPrefix: prefix, nodeId: 'survivor',
    });
    servers.push(survivor);
    const a = await connect(killed, 'alice');
    const b = await enter(survivor, 'bob');
    expect(names(b.joined)).toEqual(['alice', 'bob']);
    await listening(2);
    const died = Date.now();
    killed.child.kill('SIGKILL');
    const gone = await b.c.next((m) => m.Type === 4, 30_000);
    expect(gone).toMatchObject({ ID: a.id, Name: 'alice', Room: 'lobby', Reason: 'node_down' });
    expect(Date.now() - died).toBeLessThan(30_000);
    expect(names(await b.c.request({ Type: 9, Room: 'lobby' }, 9))).toEqual(['bob']);
    // Nothing of the dead node is left in Redis, sessions' alive key of it included, once the sweep ends: a few
    // round trips after the last left event it published (sizes, the memberships set, then the node's keys).
    const deadline = Date.now() + 2000;
    let left = await (await admin()).keys(`${prefix}node:{doomed}*`);
    while (left.length > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      left = await (await admin()).keys(`${prefix}node:{doomed}*`);
    }
    expect(left).toEqual([]);
  }, 45_000);
});
