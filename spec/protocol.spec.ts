import { codePoints, decode, Limits, nameProblem, normalizeName, wireSize } from '../src/core/protocol';

describe('decode', () => {
  it.each([
    ['a chat line', '{"Type":1,"Content":"hi"}', { type: 'broadcast', content: 'hi' }],
    ['a chat line to a room, with a Ref', '{"Type":1,"Content":"hi","Room":"dev","Ref":"m1"}',
      { type: 'broadcast', content: 'hi', room: 'dev', ref: 'm1' }],
    ['a seed client line with its own ID and SentAt (ignored)', '{"ID":"me","Content":"hi","SentAt":1700000000,"Type":1}',
      { type: 'broadcast', content: 'hi' }],
    ['a heartbeat', '{"Type":2}', { type: 'heartbeat' }],
    ['a join with a numeric Ref', '{"Type":6,"Room":"rust","Ref":7}', { type: 'join', room: 'rust', ref: 7 }],
    ['a leave', '{"Type":7,"Room":"rust"}', { type: 'leave', room: 'rust' }],
    ['a room list request', '{"Type":8}', { type: 'rooms' }],
    ['a members request', '{"Type":9,"Room":"lobby"}', { type: 'members', room: 'lobby' }],
    ['a members request for the page after a member', '{"Type":9,"Room":"lobby","After":"abc"}',
      { type: 'members', room: 'lobby', after: 'abc' }],
    ['a rename to a name in NFD, stored in NFC', '{"Type":10,"Name":"Jose\u0301"}', { type: 'rename', name: 'Jos\u00e9' }],
    ['a rename to a name of 32 emoji', `{"Type":10,"Name":"${'\u{1F600}'.repeat(32)}"}`, { type: 'rename', name: '\u{1F600}'.repeat(32) }],
    ['a rename', '{"Type":10,"Name":"alice"}', { type: 'rename', name: 'alice' }],
    ['a direct message', '{"Type":11,"To":"abc","Content":"psst"}', { type: 'direct', to: 'abc', content: 'psst' }],
    ['a direct to a user whose sub is as long as a token may make it', `{"Type":11,"To":"${'u'.repeat(Limits.maxSub)}","Content":"psst"}`,
      { type: 'direct', to: 'u'.repeat(Limits.maxSub), content: 'psst' }],
    ['a chat line with an emoji written as an escaped surrogate pair', '{"Type":1,"Content":"hi \\ud83d\\ude00","Key":"k\\ud83d\\ude00"}',
      { type: 'broadcast', content: 'hi \u{1F600}', room: undefined, ref: undefined, key: 'k\u{1F600}' }],
  ])('takes %s', (_what, text, message) => {
    expect(decode(text)).toEqual({ ok: true, message });
  });

  it.each([
    ['not JSON', '{nope', 'bad_json', undefined],
    ['an array', '[1]', 'not_object', undefined],
    ['null', 'null', 'not_object', undefined],
    ['a string', '"hi"', 'not_object', undefined],
    ['no Type', '{"Content":"hi"}', 'bad_field', undefined],
    ['a Type that is a string', '{"Type":"1","Content":"hi"}', 'bad_field', undefined],
    ['a fractional Type', '{"Type":1.5,"Content":"hi"}', 'bad_field', undefined],
    ['Content that is a number', '{"Type":1,"Content":42,"Ref":"m2"}', 'bad_field', 'm2'],
    ['SentAt that is a string', '{"Type":1,"Content":"x","SentAt":"now"}', 'bad_field', undefined],
    ['a Ref that is an object', '{"Type":1,"Content":"x","Ref":{}}', 'bad_field', undefined],
    ['a Ref that is too long', `{"Type":1,"Content":"x","Ref":"${'r'.repeat(Limits.maxRef + 1)}"}`, 'bad_field', undefined],
    ['a server-only Type', '{"Type":3,"Ref":1}', 'unknown_type', 1],
    ['an unknown Type', '{"Type":99}', 'unknown_type', undefined],
    ['an empty chat line', '{"Type":1,"Content":""}', 'empty_content', undefined],
    ['a chat line with no Content', '{"Type":1}', 'empty_content', undefined],
    ['an over-long chat line', `{"Type":1,"Content":"${'x'.repeat(Limits.maxContent + 1)}"}`, 'too_long', undefined],
    ['a bad room on a chat line', '{"Type":1,"Content":"x","Room":"no spaces"}', 'bad_room', undefined],
    ['a join without Room', '{"Type":6}', 'bad_field', undefined],
    ['a join to a bad room', '{"Type":6,"Room":"a/b"}', 'bad_room', undefined],
    ['a join to an over-long room', `{"Type":6,"Room":"${'r'.repeat(33)}"}`, 'bad_room', undefined],
    ['a rename without Name', '{"Type":10}', 'bad_field', undefined],
    ['a blank name', '{"Type":10,"Name":"   "}', 'bad_name', undefined],
    ['a name with a newline', '{"Type":10,"Name":"a\\nb"}', 'bad_name', undefined],
    ['an over-long name', `{"Type":10,"Name":"${'n'.repeat(Limits.maxName + 1)}"}`, 'too_long', undefined],
    ['a direct without To', '{"Type":11,"Content":"x"}', 'bad_field', undefined],
    ['a direct to a To longer than any sub', `{"Type":11,"To":"${'u'.repeat(Limits.maxSub + 1)}","Content":"x"}`, 'bad_field', undefined],
    ['a direct without Content', '{"Type":11,"To":"abc"}', 'empty_content', undefined],
    ['a members request with an After that is a number', '{"Type":9,"Room":"lobby","After":3}', 'bad_field', undefined],
    ['a members request with an empty After', '{"Type":9,"Room":"lobby","After":""}', 'bad_field', undefined],
    ['a name that reverses the text after it (U+202E)', '{"Type":10,"Name":"\u202eevil"}', 'bad_name', undefined],
    ['a name with a bidi isolate (U+2066)', '{"Type":10,"Name":"a\u2066b"}', 'bad_name', undefined],
    ['a name with a zero-width space', '{"Type":10,"Name":"al\u200bice"}', 'bad_name', undefined],
    ['a name with a zero-width joiner', '{"Type":10,"Name":"a\u200db"}', 'bad_name', undefined],
    ['a name with a word joiner (U+2060)', '{"Type":10,"Name":"a\u2060b"}', 'bad_name', undefined],
    ['a name with a byte-order mark', '{"Type":10,"Name":"\ufeffbob"}', 'bad_name', undefined],
    ['a name of Hangul fillers only', '{"Type":10,"Name":"\u3164\u115f\u1160\uffa0"}', 'bad_name', undefined],
    ['a History Limit of null (absent is the default; null is not absent)', '{"Type":13,"Room":"lobby","Limit":null}', 'bad_field', undefined],
    ['an empty Key', '{"Type":1,"Content":"x","Key":""}', 'bad_field', undefined],
    ['a Key over the limit', `{"Type":1,"Content":"x","Key":"${'k'.repeat(Limits.maxKey + 1)}"}`, 'bad_field', undefined],
    ['a name of a lone combining mark', '{"Type":10,"Name":"\u0301"}', 'bad_name', undefined],
    ['a name of ideographic spaces only', '{"Type":10,"Name":"\u3000\u3000"}', 'bad_name', undefined],
    ['a name with an unpaired surrogate', '{"Type":10,"Name":"a\ud800"}', 'bad_name', undefined],
    ['a chat line with an unpaired high surrogate', '{"Type":1,"Content":"hi \\ud83d","Ref":"s"}', 'bad_field', 's'],
    ['a chat line with an unpaired low surrogate', '{"Type":1,"Content":"\\ude00 hi"}', 'bad_field', undefined],
    ['a chat line with two surrogates in the wrong order', '{"Type":1,"Content":"\\ude00\\ud83d"}', 'bad_field', undefined],
    ['a direct with an unpaired surrogate', '{"Type":11,"To":"abc","Content":"x\\ud800y"}', 'bad_field', undefined],
    ['a Key with an unpaired surrogate', '{"Type":1,"Content":"x","Key":"k\\udbff"}', 'bad_field', undefined],
    ['a name of 33 emoji', `{"Type":10,"Name":"${'\u{1F600}'.repeat(33)}"}`, 'too_long', undefined],
  ])('refuses %s', (_what, text, code, ref) => {
    const d = decode(text);
    expect(d.ok).toBe(false);
    if (d.ok) return;
    expect(d.error.code).toBe(code);
    expect(d.error.reason).toEqual(expect.any(String));
    expect(d.error.ref).toEqual(ref);
  });

  it('takes content of exactly the limit', () => {
    expect(decode(JSON.stringify({ Type: 1, Content: 'x'.repeat(Limits.maxContent) })).ok).toBe(true);
  });

  it('counts Content in code points, as users do: 4000 emoji are within the limit, 4001 are not', () => {
    const emoji = '\u{1F44B}';
    expect(decode(JSON.stringify({ Type: 1, Content: emoji.repeat(Limits.maxContent) })).ok).toBe(true);
    expect(decode(JSON.stringify({ Type: 11, To: 'abc', Content: emoji.repeat(Limits.maxContent) })).ok).toBe(true);
    const over = decode(JSON.stringify({ Type: 1, Content: emoji.repeat(Limits.maxContent + 1) }));
    expect(over.ok ? undefined : over.error.code).toBe('too_long');
  });

  it('counts a Key in code points too: 64 emoji are a Key, 65 are not', () => {
    const emoji = '\u{1F511}';
    expect(decode(JSON.stringify({ Type: 1, Content: 'x', Key: emoji.repeat(Limits.maxKey) })).ok).toBe(true);
    const over = decode(JSON.stringify({ Type: 1, Content: 'x', Key: emoji.repeat(Limits.maxKey + 1) }));
    expect(over.ok ? undefined : over.error.code).toBe('bad_field');
  });

  it('estimates a line\'s bytes on the wire at least as high as JSON and UTF-8 make them', () => {
    for (const content of ['hi', 'x'.repeat(4000), '\u{1F600}'.repeat(4000), '\u00e9\u4e2d', '"\\\n\u0001'.repeat(500)]) {
      const frame = JSON.stringify({ ID: 'x'.repeat(21), Content: content, SentAt: 1764115200, Type: 1, Name: 'n'.repeat(32),
        Room: 'r'.repeat(32), Seq: 2 ** 40, Epoch: 'E'.repeat(8), MsgID: 'm'.repeat(21) });
      expect(wireSize(content, 'n'.repeat(32))).toBeGreaterThanOrEqual(Buffer.byteLength(frame));
      expect(wireSize(content, 'n'.repeat(32))).toBeLessThan(2 * Buffer.byteLength(frame));
    }
  });
});

describe('codePoints', () => {
  it.each([
    ['', 0], ['abc', 3], ['\u{1F600}', 1], ['a\u{1F600}b', 3], ['\ud800', 1], ['\ud800x', 2], ['\udc00\ud800', 2],
    ['e\u0301', 2],
  ])('counts %j as %i', (s, n) => {
    expect(codePoints(s)).toBe(n);
  });
});

describe('names', () => {
  it('keeps a name with letters, spaces and emoji inside', () => {
    expect(nameProblem(normalizeName('Zoë 🦊 van Dijk'))).toBeUndefined();
    expect(nameProblem('\u3164a')).toBeUndefined();
  });

  it('normalises to NFC, so two spellings of one look are one name', () => {
    expect(normalizeName('Zoe\u0308')).toBe(normalizeName('Zo\u00eb'));
  });
});
