// MPEG-TS checks for recorded segments. Pure: bytes in, findings out; the file reading is the
// caller's. A transport stream is a sequence of 188-byte packets, each starting with the sync
// byte 0x47. A segment cut by a power loss or a killed recorder ends in a partial packet (or, on
// a damaged disk, has packets that do not start with 0x47): the readable part is the run of whole
// packets from the start up to the first bad one.

export const TS_PACKET = 188;
export const TS_SYNC = 0x47;
/** The PCR runs at 27 MHz; its base (the part read here) at 90 kHz. */
const PCR_BASE_HZ = 90_000;
const PCR_WRAP = 2 ** 33;

export interface TsFindings {
  /** Bytes seen. */
  bytes: number;
  /** Whole packets from the start with a good sync byte, before any damage. */
  packets: number;
  /** `packets * 188`: the part of the file a player can read; what is uploaded. */
  validBytes: number;
  /** First offset that is not a good packet, when there is one. */
  badOffset?: number;
  /** Why the file is not whole: a partial last packet, or a packet without its sync byte. */
  problem?: 'truncated' | 'bad-sync' | 'empty';
  /** From the first and last programme clock reference of the readable part, when it has two. */
  durationSec?: number;
}

/**
 * Scans a segment chunk by chunk (any chunk sizes). After the first damaged packet it only
 * counts bytes: everything from there on is outside the readable part.
 */
export class TsScanner {
  private bytes = 0;
  private packets = 0;
  private bad: number | undefined;
  private carry = Buffer.alloc(0);
  private firstPcr: number | undefined;
  private lastPcr: number | undefined;
  private pcrSpan = 0;

  push(chunk: Buffer): void {
    this.bytes += chunk.length;
    if (this.bad !== undefined) return;
    let buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    let off = 0;
    while (buf.length - off >= TS_PACKET) {
      if (buf[off] !== TS_SYNC) {
        this.bad = this.packets * TS_PACKET;
        this.carry = Buffer.alloc(0);
        return;
      }
      this.readPcr(buf, off);
      this.packets++;
      off += TS_PACKET;
    }
    buf = buf.subarray(off);
    this.carry = Buffer.from(buf);
  }

  /** The programme clock reference of a packet's adaptation field, when it carries one. */
  private readPcr(buf: Buffer, off: number): void {
    const afc = (buf[off + 3]! >> 4) & 0x3;
    if (afc !== 2 && afc !== 3) return;
    const afLen = buf[off + 4]!;
    if (afLen < 7 || !(buf[off + 5]! & 0x10)) return;
    const b = off + 6;
    // 33-bit base: 32 bits then the top bit of the fifth byte.
    const base = buf.readUInt32BE(b) * 2 + (buf[b + 4]! >> 7);
    if (this.firstPcr === undefined) this.firstPcr = base;
    else if (this.lastPcr !== undefined) {
      // Sum forward steps, so one wrap of the 33-bit counter does not break the duration.
      this.pcrSpan += (base - this.lastPcr + PCR_WRAP) % PCR_WRAP;
    } else {
      this.pcrSpan += (base - this.firstPcr + PCR_WRAP) % PCR_WRAP;
    }
    this.lastPcr = base;
  }

  result(): TsFindings {
    const validBytes = this.packets * TS_PACKET;
    const out: TsFindings = { bytes: this.bytes, packets: this.packets, validBytes };
    if (this.bytes === 0) out.problem = 'empty';
    else if (this.bad !== undefined) {
      out.problem = 'bad-sync';
      out.badOffset = this.bad;
    } else if (this.carry.length > 0) {
      out.problem = 'truncated';
      out.badOffset = validBytes;
    }
    if (this.firstPcr !== undefined && this.lastPcr !== undefined && this.pcrSpan > 0) {
      out.durationSec = Math.round((this.pcrSpan / PCR_BASE_HZ) * 1000) / 1000;
    }
    return out;
  }
}

/** Findings for a whole buffer (tests, small files). */
export function scanTs(buf: Buffer): TsFindings {
  const s = new TsScanner();
  s.push(buf);
  return s.result();
}
