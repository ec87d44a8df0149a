// The commands of one step of the core, in order: a plain array local to step()
// (machine.ts), filled by the helpers of each concern, returned as data.
import type { MessageUpdate } from './outbox';
import type { ClientEvent, ClientState, Command } from './state';

export type Out = Command[];

export const emit = (out: Out, event: ClientEvent): void => { out.push({ kind: 'emit', event }); };
export const told = (out: Out, message: MessageUpdate): void => emit(out, { type: 'message', message });

/** A socket is up or coming up: its frames and its close count. */
export const isLive = (s: ClientState): boolean => s.phase === 'connecting' || s.phase === 'ready';
