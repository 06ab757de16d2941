/**
 * A tolerant parser for serialized GstStructures, as the binding returns boxed structure
 * properties such as `srtsink.stats`:
 *
 *   application/x-srt-statistics, packets-sent=(gint64)3570, rtt-ms=(double)0.28, …;
 *
 * Values may be typed `(type)value`, quoted strings with backslash escapes, arrays `< … >`,
 * lists `{ … }`, or unquoted words where `\` escapes a space or comma (nested structures, as in
 * srtsink's `callers` array in listener mode, arrive as quoted strings). The parser never throws:
 * what it cannot read it skips, so a changed field in a future GStreamer costs one figure, not
 * the statistics.
 */

export type StructureValue = number | string | boolean | null | StructureValue[];

export interface GstStructure {
  name: string;
  fields: Record<string, StructureValue>;
}

const NUMERIC_TYPES = new Set(['int', 'gint', 'uint', 'guint', 'gint64', 'guint64', 'int64', 'uint64', 'double', 'gdouble', 'float', 'gfloat', 'long', 'ulong', 'i', 'u', 'd', 'f']);
const BOOL_TYPES = new Set(['boolean', 'gboolean', 'bool', 'b']);

class Reader {
  pos = 0;
  constructor(readonly text: string) {}

  peek(): string {
    return this.text[this.pos] ?? '';
  }

  get done(): boolean {
    return this.pos >= this.text.length;
  }

  skipSpace(): void {
    while (!this.done && /\s/.test(this.peek())) this.pos++;
  }
}

function typedValue(raw: StructureValue, type: string | undefined): StructureValue {
  if (typeof raw !== 'string') return raw;
  const t = type?.toLowerCase();
  if (t && NUMERIC_TYPES.has(t)) {
    const n = Number(raw);
    return Number.isFinite(n) ? n : raw;
  }
  if (t && BOOL_TYPES.has(t)) {
    if (/^(true|yes|t|1)$/i.test(raw)) return true;
    if (/^(false|no|f|0)$/i.test(raw)) return false;
    return raw;
  }
  if (!t) {
    // Untyped: numbers and booleans as they look.
    if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(raw)) return Number(raw);
    if (raw === 'true' || raw === 'false') return raw === 'true';
  }
  if (raw === 'NULL' && t !== 'string') return null;
  return raw;
}

function readQuoted(r: Reader): string {
  // At the opening quote.
  r.pos++;
  let out = '';
  while (!r.done) {
    const ch = r.peek();
    r.pos++;
    if (ch === '\\') {
      const next = r.peek();
      r.pos++;
      out += next === 'n' ? '\n' : next === 't' ? '\t' : next;
    } else if (ch === '"') {
      return out;
    } else {
      out += ch;
    }
  }
  return out;
}

/** An unquoted word: up to an unescaped delimiter. */
function readWord(r: Reader, stops: string): string {
  let out = '';
  while (!r.done) {
    const ch = r.peek();
    if (ch === '\\') {
      r.pos++;
      out += r.peek();
      r.pos++;
      continue;
    }
    if (stops.includes(ch)) break;
    out += ch;
    r.pos++;
  }
  return out.trim();
}

function readValue(r: Reader, stops: string): StructureValue {
  r.skipSpace();
  let type: string | undefined;
  if (r.peek() === '(') {
    const close = r.text.indexOf(')', r.pos);
    if (close > r.pos) {
      type = r.text.slice(r.pos + 1, close).trim();
      r.pos = close + 1;
      r.skipSpace();
    }
  }
  const ch = r.peek();
  if (ch === '"') return typedValue(readQuoted(r), type ?? 'string');
  if (ch === '<' || ch === '{' || ch === '[') {
    const close = ch === '<' ? '>' : ch === '{' ? '}' : ']';
    r.pos++;
    const items: StructureValue[] = [];
    for (;;) {
      r.skipSpace();
      if (r.done) break;
      if (r.peek() === close) {
        r.pos++;
        break;
      }
      const before = r.pos;
      items.push(readValue(r, `,${close}`));
      r.skipSpace();
      if (r.peek() === ',') r.pos++;
      else if (r.pos === before) r.pos++; // never loop on a character we cannot read
    }
    return items.map((v) => typedValue(v, type));
  }
  return typedValue(readWord(r, stops), type);
}

/** Parses one serialized structure. Unreadable input gives an empty structure, never an error. */
export function parseGstStructure(text: unknown): GstStructure {
  const out: GstStructure = { name: '', fields: {} };
  if (typeof text !== 'string') return out;
  const r = new Reader(text);
  r.skipSpace();
  out.name = readWord(r, ',;');
  while (!r.done) {
    r.skipSpace();
    const ch = r.peek();
    if (ch === ';') break;
    if (ch === ',') {
      r.pos++;
      continue;
    }
    const eq = r.text.indexOf('=', r.pos);
    if (eq < 0) break;
    const key = r.text.slice(r.pos, eq).trim();
    r.pos = eq + 1;
    const before = r.pos;
    const value = readValue(r, ',;');
    if (key && /^[A-Za-z][A-Za-z0-9_:+-]*$/.test(key)) out.fields[key] = value;
    if (r.pos === before) r.pos++;
  }
  return out;
}

function numberField(s: GstStructure, key: string): number | undefined {
  const v = s.fields[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** The SRT sender's counters at one moment (cumulative since the connection started). */
export interface SrtStats {
  connected: boolean;
  packetsSent: number;
  packetsLost: number;
  packetsRetransmitted: number;
  packetsDropped: number;
  acksReceived: number;
  nacksReceived: number;
  bytesSent: number;
  sendRateMbps?: number;
  bandwidthMbps?: number;
  rttMs?: number;
  negotiatedLatencyMs?: number;
  /** Callers connected (listener mode), 1 in caller mode when connected. */
  callers: number;
}

function srtFromStructure(s: GstStructure): SrtStats {
  const sent = numberField(s, 'packets-sent');
  return {
    connected: sent !== undefined,
    packetsSent: sent ?? 0,
    packetsLost: numberField(s, 'packets-sent-lost') ?? 0,
    packetsRetransmitted: numberField(s, 'packets-retransmitted') ?? 0,
    packetsDropped: numberField(s, 'packets-sent-dropped') ?? 0,
    acksReceived: numberField(s, 'packet-ack-received') ?? 0,
    nacksReceived: numberField(s, 'packet-nack-received') ?? 0,
    bytesSent: numberField(s, 'bytes-sent') ?? 0,
    sendRateMbps: numberField(s, 'send-rate-mbps'),
    bandwidthMbps: numberField(s, 'bandwidth-mbps'),
    rttMs: numberField(s, 'rtt-ms'),
    negotiatedLatencyMs: numberField(s, 'negotiated-latency-ms'),
    callers: sent !== undefined ? 1 : 0,
  };
}

/**
 * Reads srtsink's (or srtsrc's) `stats`. Before a connection there are no per-socket fields
 * (`connected: false`); in listener mode the per-caller structures are summed (RTT: the worst).
 */
export function parseSrtStats(text: unknown): SrtStats {
  const s = parseGstStructure(text);
  const callers = s.fields.callers;
  if (Array.isArray(callers)) {
    const each = callers.filter((c): c is string => typeof c === 'string').map((c) => srtFromStructure(parseGstStructure(c)));
    const live = each.filter((c) => c.connected);
    const sum = (k: keyof SrtStats): number => live.reduce((a, c) => a + (typeof c[k] === 'number' ? c[k] : 0), 0);
    const max = (k: 'rttMs' | 'bandwidthMbps' | 'negotiatedLatencyMs'): number | undefined => {
      const xs = live.map((c) => c[k]).filter((x): x is number => x !== undefined);
      return xs.length ? Math.max(...xs) : undefined;
    };
    const minBw = live.map((c) => c.bandwidthMbps).filter((x): x is number => x !== undefined);
    return {
      connected: live.length > 0,
      packetsSent: sum('packetsSent'),
      packetsLost: sum('packetsLost'),
      packetsRetransmitted: sum('packetsRetransmitted'),
      packetsDropped: sum('packetsDropped'),
      acksReceived: sum('acksReceived'),
      nacksReceived: sum('nacksReceived'),
      bytesSent: sum('bytesSent'),
      sendRateMbps: live.length ? sum('sendRateMbps') : undefined,
      bandwidthMbps: minBw.length ? Math.min(...minBw) : undefined,
      rttMs: max('rttMs'),
      negotiatedLatencyMs: max('negotiatedLatencyMs'),
      callers: live.length,
    };
  }
  return srtFromStructure(s);
}

/** rtmp2sink's `stats`: byte counters of the RTMP connection. */
export interface RtmpStats {
  outBytes: number;
  inBytes: number;
}

export function parseRtmpStats(text: unknown): RtmpStats {
  const s = parseGstStructure(text);
  return { outBytes: numberField(s, 'out-bytes-total') ?? 0, inBytes: numberField(s, 'in-bytes-total') ?? 0 };
}
