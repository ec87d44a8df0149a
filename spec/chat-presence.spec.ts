// Who the chat CLI knows (scripts/lib/presence.ts) and how it shows member lists
// (scripts/lib/format.ts), now that lists are pages of 100 with a Count and big
// rooms send no presence notices (protocol.md).
import { Message, Type } from '../src/core/protocol';
import { formatFrame } from '../scripts/lib/format';
import { MAX_PEERS, Presence, applyFrame, emptyPresence, resolvePeer } from '../scripts/lib/presence';

const msg = (f: Partial<Message> & { Type: number }): Message => ({ ID: '', Content: '', SentAt: 0, ...f });
const members = (n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ ID: `id-${from + i}`, Name: `m${from + i}` }));
const view = (presence: Presence) => ({ selfId: 'me', color: false, presence });

describe('chat CLI presence with paged member lists', () => {
  it('a first page of a big room adds to what is known, never drops the rest', () => {
    let p = applyFrame(emptyPresence, msg({ Type: Type.Broadcast, ID: 'talker', Name: 'tal', Room: 'big', Content: 'hi' }), 'me');
    p = applyFrame(p, msg({ Type: Type.Join, ID: 'me', Room: 'big', Members: members(100), Count: 1500 }), 'me');
    expect(resolvePeer(p, 'tal')).toEqual({ ok: true, id: 'talker' });
    expect(resolvePeer(p, 'm99')).toEqual({ ok: true, id: 'id-99' });
    p = applyFrame(p, msg({ Type: Type.Members, Room: 'big', Members: members(100, 100), Count: 1500, Next: 'id-199' }), 'me');
    expect(resolvePeer(p, 'm150')).toEqual({ ok: true, id: 'id-150' });
    expect(resolvePeer(p, 'tal')).toEqual({ ok: true, id: 'talker' });
  });

  it('a whole room (Count no more than listed) still replaces what was known of it', () => {
    let p = applyFrame(emptyPresence, msg({ Type: Type.Connected, ID: 'gone', Name: 'old', Room: 'small' }), 'me');
    p = applyFrame(p, msg({ Type: Type.Members, Room: 'small', Members: members(2), Count: 2 }), 'me');
    expect(p.has('gone')).toBe(false);
    expect(p.has('id-1')).toBe(true);
  });

  it('a line from someone already known changes nothing (no copy), and the directory is capped', () => {
    const p = applyFrame(emptyPresence, msg({ Type: Type.Broadcast, ID: 'a', Name: 'ann', Room: 'r' }), 'me');
    expect(applyFrame(p, msg({ Type: Type.Broadcast, ID: 'a', Name: 'ann', Room: 'r' }), 'me')).toBe(p);
    let q = emptyPresence;
    for (let i = 0; i < MAX_PEERS + 10; i++) q = applyFrame(q, msg({ Type: Type.Direct, ID: `p${i}`, Name: `n${i}` }), 'me');
    expect(q.size).toBe(MAX_PEERS);
    expect(q.has('p0')).toBe(false);
    expect(q.has(`p${MAX_PEERS + 9}`)).toBe(true);
  });

  it('shows a Join and a Members page with the room count and how to see more', () => {
    const join = formatFrame(msg({ Type: Type.Join, ID: 'me', Room: 'big', Members: members(3), Count: 1500 }), view(emptyPresence));
    expect(join).toMatch(/you are in big: 1500 here \(m0, m1, m2, and 1497 more\)$/);
    const page = formatFrame(msg({ Type: Type.Members, Room: 'big', Members: members(2), Count: 1500, Next: 'id-1' }), view(emptyPresence));
    expect(page).toMatch(/1500 in big: m0, m1 \(2 listed; \/more for the next\)$/);
    const whole = formatFrame(msg({ Type: Type.Members, Room: 'small', Members: members(2), Count: 2 }), view(emptyPresence));
    expect(whole).toMatch(/2 in small: m0, m1$/);
  });
});
