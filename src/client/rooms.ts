// Runs one room's step (room.ts) inside the client's state and turns what the room
// says into commands: lines and notices for the app, History reads for the server.
import { Out, emit } from './commands';
import { ask } from './requests';
import { RoomCtx, RoomOut, RoomState, RoomStep, newRoom } from './room';
import type { ClientState } from './state';
import { seqOf } from './wire';

export function inRoom(s: ClientState, name: string, f: (r: RoomState, ctx: RoomCtx) => RoomStep, out: Out): ClientState {
  const r0 = s.rooms.get(name) ?? newRoom(name);
  // The Ref a History read would take: the next request's (ask() below takes that very one).
  const { room, out: said } = f(r0, { ref: s.serial + 1, heldMax: s.opts.heldMax });
  // Unchanged is unchanged: an answer for a room we have left since does not bring it back.
  let next = room === r0 ? s : { ...s, rooms: new Map(s.rooms).set(name, room) };
  for (const o of said) next = roomSaid(next, room, o, out);
  return next;
}

function roomSaid(s: ClientState, r: RoomState, o: RoomOut, out: Out): ClientState {
  switch (o.kind) {
    case 'line':
      emit(out, { type: 'line', room: r.name, frame: o.frame, via: o.via });
      if (s.opts.reportSeq) emit(out, { type: 'seq', room: r.name, seq: seqOf(o.frame) ?? 0, epoch: r.epoch, own: false });
      return s;
    case 'own':
      if (s.opts.reportSeq) emit(out, { type: 'seq', room: r.name, seq: o.seq, epoch: r.epoch, own: true });
      return s;
    case 'gap':
      emit(out, { type: 'gap', room: r.name, after: o.after, before: o.before });
      return s;
    case 'reset':
      emit(out, { type: 'reset', room: r.name, reason: o.reason, seq: o.seq, epoch: o.epoch });
      return s;
    case 'catchingUp':
      emit(out, { type: 'catchup', room: r.name, state: 'started', reason: o.reason });
      return s;
    case 'caughtUp':
      emit(out, { type: 'catchup', room: r.name, state: 'done', complete: o.complete });
      return s;
    case 'fetch': {
      const [s1] = ask(s, { kind: 'catchup', room: r.name }, out);
      out.push({ kind: 'send', frame: o.frame });
      return s1;
    }
    default: {
      const never: never = o;
      return never;
    }
  }
}
