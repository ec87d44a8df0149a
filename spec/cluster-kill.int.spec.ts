// A node dies (issue 8 item 6): two real server processes on one Redis, one
// killed with SIGKILL. Its client reconnects to the other and resumes there:
// the same identity, and every line of the room it missed, in order, with no
// gap and no duplicate. What a killed node leaves in Redis (its identities,
// live, with a TTL) is what the survivor resumes from.
import type { Message } from '../src/core/protocol';
import { TestClient } from './support/client';
import { ServerProcess, startServerProcess, within } from './support/server-process';
import { eachTestOnRedis, testUrl } from './support/redis';
import { until } from './support/until';

let prefix: string;
const closers = eachTestOnRedis((p) => { prefix = p; });

async function node(name: string): Promise<ServerProcess> {
  const p = await startServerProcess(['--redis', testUrl(), '--redis-prefix', prefix, '--node-id', name, '--log-level', 'warn']);
  closers.push(() => p.stop());
  return p;
}

async function connect(url: string, query: Record<string, string>): Promise<TestClient> {
  const c = await TestClient.connect(url, query);
  closers.push(() => c.close());
  return c;
}

const lines = (c: TestClient) => c.frames.filter((m) => m.Type === 1 && m.Room === 'lobby');

describe('a node killed with SIGKILL', () => {
  it('lets its client resume on another node with the same identity and every line it missed, once, in order', async () => {
    const one = await node('one');
    const two = await node('two');
    const a = await connect(one.url, { name: 'alice' });
    const b = await connect(two.url, { name: 'bob' });
    const acks: Message[] = [];
    acks.push(await b.request({ Type: 1, Room: 'lobby', Content: 'before 1' }, 12));
    acks.push(await b.request({ Type: 1, Room: 'lobby', Content: 'before 2' }, 12));
    await until('alice has both lines', () => lines(a).length === 2);
    const last = lines(a)[1];
    const token = a.welcome?.Token as string;

    one.child.kill('SIGKILL');
    await within(one.exited, 5000, 'the killed node exits');
    await a.closed();
    // bob goes on talking while alice is gone.
    for (let i = 1; i <= 5; i++) acks.push(await b.request({ Type: 1, Room: 'lobby', Content: `during ${i}` }, 12));

    const back = await connect(two.url, { resume: token, since: `lobby:${last.Seq}:${last.Epoch}` });
    expect(back.welcome).toMatchObject({ ID: a.id, Name: 'alice', Rooms: ['lobby'], Resumed: true });
    expect(back.frames.some((m) => m.Type === 5)).toBe(false);
    await until('the replay', () => lines(back).length === 5);
    acks.push(await b.request({ Type: 1, Room: 'lobby', Content: 'after' }, 12));
    await until('the live line', () => lines(back).length === 6);
    const seen = [...lines(a), ...lines(back)];
    expect(seen.map((m) => m.Seq)).toEqual(acks.map((m) => m.Seq));
    expect(seen.map((m) => m.Content)).toEqual(['before 1', 'before 2', 'during 1', 'during 2', 'during 3', 'during 4', 'during 5', 'after']);
    // bob reaches alice on her new node by Direct.
    await b.request({ Type: 11, To: a.id, Content: 'welcome back' }, 12);
    expect(await back.next((m) => m.Type === 11)).toMatchObject({ ID: b.id, Content: 'welcome back' });
  }, 30_000);
});
