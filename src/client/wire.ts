// The wire as the client library sees it (docs/protocol.md): the frames it reads,
// the frames it writes and the URLs it connects with. Pure, and free of Node and
// of the DOM, so that the browser bundle and the command-line clients share it.
import { Type } from '../core/protocol';

/** protocol.md "Types": the server's Type table, with History (13) spelt out here so
 * the library does not depend on when src/core/protocol.ts gains it. */
export const T = { ...Type, History: 13 } as const;

/** Lines per History page the library asks for when it catches up (protocol.md: at most 100). */
export const CATCH_UP_PAGE = 100;
/** protocol.md "History": Limit is 1 to 100, 50 when absent. */
export const MAX_HISTORY_PAGE = 100;
export const DEFAULT_HISTORY_PAGE = 50;

/** A server frame: the four seed fields always, the extensions where its Type has them. */
export interface Frame {
  ID: string;
  Content: string;
  SentAt: number;
  Type: number;
  Name?: string;
  OldName?: string;
  Room?: string;
  Rooms?: unknown;
  Members?: { ID: string; Name: string }[];
  Count?: number;
  Next?: string;
  Seq?: number;
  Epoch?: string;
  MsgID?: string;
  To?: string;
  Key?: string;
  Ref?: string | number;
  Code?: string;
  Reason?: string;
  Token?: string;
  Resumed?: boolean;
  Recovered?: boolean;
  Duplicate?: boolean;
  Messages?: Frame[];
  More?: boolean;
  First?: number;
  Total?: number;
  /** rate_limited: milliseconds to wait before the next frame is taken. */
  RetryMs?: number;
  [extension: string]: unknown;
}

/** A frame to send. The server sets ID and SentAt. */
export type Outgoing = { Type: number; Ref?: string | number; [field: string]: unknown };

/** Parses one text frame; anything without the seed's fields is not for us (undefined). */
export function parseFrame(data: unknown): Frame | undefined {
  if (typeof data !== 'string') return undefined; // protocol.md: JSON text only
  let f: unknown;
  try {
    f = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (f === null || typeof f !== 'object' || Array.isArray(f)) return undefined;
  const o = f as Frame;
  if (typeof o.Type !== 'number' || typeof o.ID !== 'string') return undefined;
  if (typeof o.Content !== 'string') o.Content = '';
  return o;
}

/** A room's position: the Seq of the last line the client has there, in that Epoch. */
export interface Position {
  readonly room: string;
  readonly seq: number;
  readonly epoch: string;
}

/**
 * protocol.md "Resuming": `since` is ROOM:SEQ:EPOCH, comma-separated, written as the
 * doc shows it (':' and ',' are legal in a query). Room names are URL-safe; an Epoch
 * is percent-encoded in case it holds '&', '#', '+' or '%' (the server decodes query
 * values before it splits). The doc does not bound the Epoch's alphabet: one with ':'
 * or ',' could not be split by any reader, encoded or not.
 */
export const sinceParam = (ps: readonly Position[]): string =>
  ps.map((p) => `${p.room}:${p.seq}:${encodeURIComponent(p.epoch)}`).join(',');

export interface ConnectParams {
  name?: string;
  room?: string;
  resume?: string;
  since?: readonly Position[];
}

/**
 * The URL of one connection attempt: `base` (ws://host:port/ws) plus
 * ?name=&room= and, on a reconnect with a token, resume=&since= (protocol.md:
 * name and room are then used only if the resume fails).
 */
export function connectUrl(base: string, p: ConnectParams): string {
  const q: string[] = [];
  if (p.resume !== undefined) {
    q.push(`resume=${encodeURIComponent(p.resume)}`);
    if (p.since && p.since.length > 0) q.push(`since=${sinceParam(p.since)}`);
  }
  if (p.name !== undefined) q.push(`name=${encodeURIComponent(p.name)}`);
  if (p.room !== undefined) q.push(`room=${encodeURIComponent(p.room)}`);
  if (q.length === 0) return base;
  return `${base}${base.includes('?') ? '&' : '?'}${q.join('&')}`;
}

/** Ack, Join and History replies carry Room + Seq + Epoch; lines too. */
export const seqOf = (f: Frame): number | undefined =>
  (typeof f.Seq === 'number' && Number.isInteger(f.Seq) && f.Seq >= 0 ? f.Seq : undefined);
export const roomOf = (f: Frame): string | undefined => (typeof f.Room === 'string' ? f.Room : undefined);
export const epochOf = (f: Frame): string | undefined => (typeof f.Epoch === 'string' ? f.Epoch : undefined);
