// Parsers for what GStreamer reports as text: serialized structures (srtsink/rtmp2sink stats,
// sink stats) and the level element's per-channel arrays; the silence alarm built on them.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseGstStructure, parseRtmpStats, parseSrtStats } from '../../pipelines/gst-structure.js';
import { SilenceDetector, parseLevelArray, parseLevelMessage } from '../../pipelines/level.js';

// As srtsink 1.22 reports them (caller connected; listener with one caller; before connecting).
const CALLER =
  'application/x-srt-statistics, packets-sent=(gint64)2777, packets-sent-lost=(int)3, packets-retransmitted=(int)5, packet-ack-received=(int)84, packet-nack-received=(int)2, send-duration-us=(guint64)1131610, bytes-sent=(guint64)644264, bytes-retransmitted=(guint64)1880, bytes-sent-dropped=(guint64)0, packets-sent-dropped=(int)1, send-rate-mbps=(double)2.0551398712794264, negotiated-latency-ms=(int)125, packets-received=(gint64)0, packets-received-lost=(int)0, packet-ack-sent=(int)0, packet-nack-sent=(int)0, bytes-received=(guint64)0, bytes-received-lost=(guint64)0, receive-rate-mbps=(double)0, bandwidth-mbps=(double)1314.204, rtt-ms=(double)0.28799999999999998, bytes-sent-total=(guint64)522076;';
const LISTENER =
  'application/x-srt-statistics, callers=(GValueArray)< "application/x-srt-statistics\\,\\ packets-sent\\=\\(gint64\\)2363\\,\\ packets-sent-lost\\=\\(int\\)7\\,\\ packets-retransmitted\\=\\(int\\)0\\,\\ packet-ack-received\\=\\(int\\)78\\,\\ packet-nack-received\\=\\(int\\)0\\,\\ send-duration-us\\=\\(guint64\\)997703\\,\\ bytes-sent\\=\\(guint64\\)548216\\,\\ bytes-retransmitted\\=\\(guint64\\)0\\,\\ bytes-sent-dropped\\=\\(guint64\\)0\\,\\ packets-sent-dropped\\=\\(int\\)0\\,\\ send-rate-mbps\\=\\(double\\)2.1210587380126875\\,\\ negotiated-latency-ms\\=\\(int\\)125\\,\\ bandwidth-mbps\\=\\(double\\)1108.164\\,\\ rtt-ms\\=\\(double\\)0.047\\,\\ caller-address\\=\\(GSocketAddress\\)NULL\\;" >, bytes-sent-total=(guint64)444244;';
const BEFORE = 'application/x-srt-statistics, bytes-sent-total=(guint64)0;';

describe('GstStructure text', () => {
  it('reads typed fields, quoted strings, arrays and NULL', () => {
    const s = parseGstStructure('test/x, a=(int)-3, b=(double)2.5, c=(string)"x\\"y, z", d=(boolean)true, e=(GValueArray)< 1, 2 >, f=(GSocketAddress)NULL, g=word\\ with\\,comma;');
    expect(s.name).toBe('test/x');
    expect(s.fields).toEqual({ a: -3, b: 2.5, c: 'x"y, z', d: true, e: [1, 2], f: null, g: 'word with,comma' });
  });

  it('never throws, whatever it is given', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom(CALLER.slice(0, 300), LISTENER.slice(0, 500), 'x, a=(int)<', 'x, a="unterminated', 'x, =(int)1')), (text) => {
        const s = parseGstStructure(text);
        expect(typeof s.name).toBe('string');
        parseSrtStats(text);
      }),
      { numRuns: 500 },
    );
    expect(parseGstStructure(undefined)).toEqual({ name: '', fields: {} });
  });

  it('srtsink as a caller', () => {
    expect(parseSrtStats(CALLER)).toEqual({
      connected: true,
      packetsSent: 2777,
      packetsLost: 3,
      packetsRetransmitted: 5,
      packetsDropped: 1,
      acksReceived: 84,
      nacksReceived: 2,
      bytesSent: 644264,
      sendRateMbps: 2.0551398712794264,
      bandwidthMbps: 1314.204,
      rttMs: 0.28799999999999998,
      negotiatedLatencyMs: 125,
      callers: 1,
    });
  });

  it('srtsink as a listener: the per-caller structures inside the array', () => {
    const s = parseSrtStats(LISTENER);
    expect(s).toMatchObject({ connected: true, callers: 1, packetsSent: 2363, packetsLost: 7, acksReceived: 78, bytesSent: 548216, rttMs: 0.047, bandwidthMbps: 1108.164 });
  });

  it('srtsink before a connection', () => {
    expect(parseSrtStats(BEFORE)).toMatchObject({ connected: false, packetsSent: 0, callers: 0 });
    expect(parseSrtStats(undefined).connected).toBe(false);
  });

  it('rtmp2sink and basesink statistics', () => {
    expect(parseRtmpStats('GstRtmpStats, in-chunk-size=(uint)128, out-chunk-size=(uint)4096, in-bytes-total=(guint64)3600, out-bytes-total=(guint64)991234;')).toEqual({ outBytes: 991234, inBytes: 3600 });
    expect(parseGstStructure('GstBaseSink, average-rate=(double)0.012, dropped=(guint64)0, rendered=(guint64)451;').fields.rendered).toBe(451);
  });
});

describe('level messages', () => {
  it('reads the per-channel arrays as the binding delivers them', () => {
    expect(parseLevelArray('< -4.948500 >')).toEqual([-4.9485]);
    expect(parseLevelArray('< -20.1, -19.8 >')).toEqual([-20.1, -19.8]);
    expect(parseLevelArray('< -inf, -3 >')).toEqual([-Infinity, -3]);
    expect(parseLevelArray([-1, -2])).toEqual([-1, -2]);
    expect(parseLevelArray('< (double)-7.5 >')).toEqual([-7.5]);
    expect(parseLevelArray('garbage')).toEqual([]);
    expect(parseLevelArray(undefined)).toEqual([]);
  });

  it('a whole message: the loudest channel counts', () => {
    const r = parseLevelMessage({ name: 'level', rms: '< -40.2, -12.5 >', peak: '< -30.1, -2.2 >', decay: '< -30, -2 >', 'running-time': '502342875' });
    expect(r).toEqual({ rmsDb: [-40.2, -12.5], peakDb: [-30.1, -2.2], loudestRmsDb: -12.5, runningTimeNs: 502342875 });
    expect(parseLevelMessage({ name: 'level' })).toBeUndefined();
  });

  it('silence alarm after N seconds below the threshold while armed; cleared by sound', () => {
    const d = new SilenceDetector({ thresholdDb: -50, afterMs: 3000 });
    const feed = (db: number, t: number, armed = true) => d.update(db, t, armed);
    expect(feed(-20, 0)).toBeUndefined();
    expect(feed(-70, 500)).toBeUndefined();
    expect(feed(-70, 3000)).toBeUndefined();
    expect(feed(-Infinity, 3500)).toEqual({ silent: true, sinceMs: 500, levelDb: -Infinity });
    expect(d.isSilent).toBe(true);
    expect(feed(-80, 4000)).toBeUndefined();
    expect(feed(-30, 5000)).toEqual({ silent: false, silentForMs: 4500, levelDb: -30 });
    // A pause in the lesson (disarmed) never counts as silence and resets the count.
    expect(feed(-90, 6000, false)).toBeUndefined();
    expect(feed(-90, 8000, true)).toBeUndefined();
    expect(feed(-90, 10_500, true)).toBeUndefined();
    expect(feed(-90, 11_000, true)).toMatchObject({ silent: true, sinceMs: 8000 });
    expect(feed(-90, 11_500, false)).toMatchObject({ silent: false });
  });
});
