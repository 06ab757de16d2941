// Allow-lists and URL templates: every refusal names the setting; nothing else is refused.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UnsafeValueError } from '../../agent/errors.js';
import { buildLessonPlan, type PlanOptions } from '../../pipelines/builder.js';
import { resolveMediaConfig, type MediaConfig } from '../../pipelines/config.js';
import { checkAbsolutePath, checkAlsaDevice, checkDevicePath, checkHost, checkId, lessonDirName } from '../../pipelines/safe.js';
import { checkRtspUrl, expandTemplate, parseRtmpUrl, parseSrtUrl } from '../../pipelines/urls.js';
import { alsaCardMissing } from '../../pipelines/runtime.js';

function refusal(fn: () => unknown): UnsafeValueError {
  try {
    fn();
  } catch (e) {
    if (e instanceof UnsafeValueError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('setting allow-lists', () => {
  it('ids follow the contract pattern', () => {
    expect(checkId('QZ-FZ-0101-R201', 'deviceId')).toBe('QZ-FZ-0101-R201');
    expect(refusal(() => checkId('QZ R201', 'deviceId')).message).toBe('deviceId: contains a space');
    expect(refusal(() => checkId('ab', 'peerRoomId')).message).toMatch(/^peerRoomId: "ab" does not match/);
    expect(refusal(() => checkId('x!fakesink', 'peerRoomId')).message).toBe('peerRoomId: contains "!"');
    expect(refusal(() => checkId('-leading', 'deviceId')).message).toMatch(/^deviceId: /);
  });

  it('paths: absolute, no dot segments, no printf percent, letters of any script', () => {
    expect(checkAbsolutePath('/var/lib/lectern/录像 2026/', 'recording.dir')).toBe('/var/lib/lectern/录像 2026');
    expect(refusal(() => checkAbsolutePath('recordings', 'recording.dir')).message).toBe('recording.dir: is not an absolute path');
    expect(refusal(() => checkAbsolutePath('/var/../etc', 'recording.dir')).message).toBe('recording.dir: contains a "." or ".." segment');
    expect(refusal(() => checkAbsolutePath('/var/rec%d', 'recording.dir')).message).toBe('recording.dir: contains "%"');
    expect(refusal(() => checkAbsolutePath('/var/a"b', 'recording.dir')).message).toBe('recording.dir: contains a double quote');
    expect(refusal(() => checkAbsolutePath('/var/a\nb', 'recording.dir')).message).toBe('recording.dir: contains a line break');
    expect(refusal(() => checkAbsolutePath('/var/a!b', 'recording.dir')).message).toBe('recording.dir: contains "!"');
  });

  it('device names', () => {
    expect(checkDevicePath('/dev/v4l/by-id/usb-046d_C920-video-index0', 'video.device')).toMatch(/^\/dev\//);
    expect(refusal(() => checkDevicePath('/dev/video0 ! filesink location=/x', 'video.device')).message).toBe('video.device: contains a space');
    expect(refusal(() => checkDevicePath('/tmp/video0', 'video.device')).message).toBe('video.device: is not under /dev/');
    expect(checkAlsaDevice('plughw:CARD=Array,DEV=0', 'audio.device')).toBe('plughw:CARD=Array,DEV=0');
    expect(refusal(() => checkAlsaDevice('hw:0 ! fakesink', 'audio.device')).message).toBe('audio.device: contains a space');
    expect(checkHost('media.example', 'h')).toBe('media.example');
    expect(checkHost('[::1]', 'h')).toBe('[::1]');
    expect(refusal(() => checkHost('a..b', 'h')).message).toMatch(/^h: host "a..b" is not a host name/);
  });

  it('an ALSA card that is not there is noticed before building a pipeline', async () => {
    const proc = mkdtempSync(join(tmpdir(), 'lectern-asound-'));
    mkdirSync(join(proc, 'card1'));
    mkdirSync(join(proc, 'Array'));
    expect(await alsaCardMissing('hw:1,0', proc)).toBeUndefined();
    expect(await alsaCardMissing('plughw:CARD=Array,DEV=0', proc)).toBeUndefined();
    expect(await alsaCardMissing('hw:2,0', proc)).toBe('ALSA card 2 is not present');
    expect(await alsaCardMissing('dsnoop:CARD=C920', proc)).toBe('ALSA card C920 is not present');
    expect(await alsaCardMissing('default', proc)).toBeUndefined();
    rmSync(proc, { recursive: true, force: true });
  });

  it('lesson directories are safe names, distinct for distinct lesson ids', () => {
    expect(lessonDirName('QZ-FZ-0101-R201_e12_2026-09-07')).toBe('QZ-FZ-0101-R201_e12_2026-09-07');
    expect(lessonDirName('QZ-FZ-0101-R201:e12:2026-09-07')).toMatch(/^QZ-FZ-0101-R201_e12_2026-09-07-[0-9a-f]{8}$/);
    expect(lessonDirName('..')).toMatch(/^_\.\.-[0-9a-f]{8}$/);
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 128 }), fc.string({ minLength: 1, maxLength: 128 }), (a, b) => {
        const da = lessonDirName(a);
        expect(da).toMatch(/^[A-Za-z0-9_.-]{1,128}$/);
        expect(da.startsWith('.')).toBe(false);
        if (a !== b) expect(da).not.toBe(lessonDirName(b));
      }),
    );
  });
});

describe('URL templates', () => {
  const ids = { deviceId: 'QZ-FZ-0101-R201', peerRoomId: 'QZ-FZ-0102-R305' };

  it('substitutes checked ids; refuses unknown placeholders and missing peers', () => {
    expect(expandTemplate('srt://h:1?streamid=#!::r=live/{deviceId},m=publish', ids, 'uplink.urlTemplate')).toBe('srt://h:1?streamid=#!::r=live/QZ-FZ-0101-R201,m=publish');
    expect(refusal(() => expandTemplate('srt://h:1?streamid={room}', ids, 'uplink.urlTemplate')).message).toBe('uplink.urlTemplate: contains an unknown placeholder {room}');
    expect(refusal(() => expandTemplate('srt://h:1?streamid={peerRoomId}', { deviceId: 'QZ-1-abc' }, 'listen.urlTemplate')).message).toBe(
      'listen.urlTemplate: uses {peerRoomId} but no peer room is given',
    );
    expect(refusal(() => expandTemplate('srt://h:1?streamid={deviceId}', { deviceId: 'bad id!' }, 'uplink.urlTemplate')).setting).toBe('deviceId');
    expect(refusal(() => expandTemplate('srt://h:1?x={', ids, 'uplink.urlTemplate')).message).toBe('uplink.urlTemplate: contains an unmatched "{"');
  });

  it('SRT: the stream id, latency and passphrase become element properties, the URI keeps host:port', () => {
    const t = parseSrtUrl('srt://media.example:10080?streamid=#!::r=live/QZ-1,m=publish&latency=400&passphrase=0123456789ab&pbkeylen=16', 'u');
    expect(t).toMatchObject({ uri: 'srt://media.example:10080', host: 'media.example', port: 10080, mode: 'caller', streamId: '#!::r=live/QZ-1,m=publish', latencyMs: 400, passphrase: '0123456789ab', pbkeylen: 16 });
    expect(parseSrtUrl('srt://127.0.0.1:9000?streamid=%23!%3A%3Ar%3Dlive%2Fx', 'u').streamId).toBe('#!::r=live/x');
    expect(parseSrtUrl('srt://:9000?mode=listener', 'u')).toMatchObject({ uri: 'srt://:9000', mode: 'listener' });
    expect(refusal(() => parseSrtUrl('srt://h:1?streamid=a b', 'u')).message).toBe('u streamid: contains a space or a quote');
    expect(refusal(() => parseSrtUrl('srt://h:1?streamid=a%0Ab', 'u')).message).toBe('u streamid: contains a line break');
    expect(refusal(() => parseSrtUrl('srt://h:1?pollution=1', 'u')).message).toBe('u: has an unsupported query parameter "pollution"');
    expect(refusal(() => parseSrtUrl('srt://h:99999', 'u')).message).toBe('u: port 99999 is out of range');
    expect(refusal(() => parseSrtUrl('srt://h"x:1', 'u')).message).toBe('u: contains a double quote');
    expect(refusal(() => parseSrtUrl('srt://:1', 'u')).message).toBe('u: has no host (a caller needs one)');
    expect(refusal(() => parseSrtUrl('rtmp://h/a/b', 'u')).message).toMatch(/^u: ".*" is not an srt:\/\/host:port URL$/);
    expect(refusal(() => parseSrtUrl('srt://h:1?passphrase=short', 'u')).message).toBe('u passphrase: must be 10 to 79 characters (SRT)');
  });

  it('RTMP and RTSP', () => {
    expect(parseRtmpUrl('rtmp://media.example/live/QZ-1?token=a1', 'u')).toMatchObject({ host: 'media.example', port: 1935, app: 'live', stream: 'QZ-1' });
    expect(refusal(() => parseRtmpUrl('rtmp://h/live/a b', 'u')).message).toBe('u: contains a space');
    expect(refusal(() => parseRtmpUrl('rtmp://h/live', 'u')).message).toBe('u: needs an application and a stream name of letters, digits and ._~-');
    expect(refusal(() => parseRtmpUrl('rtmp://h/live/x?a=<b>', 'u')).message).toBe('u: contains "<"');
    expect(checkRtspUrl('rtsp://admin:pw@192.168.1.64:554/Streaming/Channels/101', 'video.url')).toMatch(/^rtsp:/);
    expect(refusal(() => checkRtspUrl('rtsp://cam/x" ! filesink location=/tmp/y', 'video.url')).message).toBe('video.url: contains a double quote');
  });
});

describe('the builder refuses hostile settings, naming them', () => {
  const base = (): MediaConfig =>
    resolveMediaConfig({ video: { type: 'test' }, audio: { type: 'test' }, uplink: { urlTemplate: 'srt://127.0.0.1:9000?streamid=#!::r=live/{deviceId},m=publish' }, recording: { dir: '/tmp/lectern-rec' } });
  const opts: PlanOptions = { role: 'lecture', deviceId: 'QZ-TEST-0001', lessonId: 'L1', encoder: 'x264enc', instance: 'b1', uplinkSocket: '/tmp/lectern-b1/u.sock' };

  it.each<[string, (c: MediaConfig) => MediaConfig, Partial<PlanOptions>, RegExp]>([
    ['uplink URL with a pipeline', (c) => ({ ...c, uplink: { ...c.uplink, urlTemplate: 'srt://h:1 ! filesink location=/etc/x' } }), {}, /^uplink\.urlTemplate: /],
    ['uplink stream id with a quote', (c) => ({ ...c, uplink: { ...c.uplink, urlTemplate: 'srt://h:1?streamid=a"b' } }), {}, /^uplink\.urlTemplate streamid: /],
    ['listen URL from a hostile peer id', (c) => ({ ...c, listen: { ...c.listen, urlTemplate: 'srt://h:1?streamid={peerRoomId}' } }), { role: 'listen', peerRoomId: 'x" ! filesink' }, /^peerRoomId: /],
    ['device id', (c) => c, { deviceId: 'QZ 1 ! x' }, /^deviceId: contains a space$/],
    ['recording dir', (c) => ({ ...c, recording: { ...c.recording, dir: '/tmp/x" location=/etc' } }), {}, /^recording\.dir: contains a double quote$/],
    ['camera device', (c) => ({ ...c, video: { ...c.video, type: 'v4l2', device: '/dev/video0"' } }), {}, /^video\.device: contains a double quote$/],
    ['RTSP camera', (c) => ({ ...c, video: { ...c.video, type: 'rtsp', url: 'rtsp://cam/a\nb' } }), {}, /^video\.url: contains a control character$/],
    ['microphone', (c) => ({ ...c, audio: { ...c.audio, type: 'alsa', device: 'hw:0;x' } }), {}, /^audio\.device: contains ";"$/],
    ['speaker', (c) => ({ ...c, listen: { ...c.listen, urlTemplate: 'srt://h:1', audioSink: 'alsa', audioDevice: 'hw:0 !' } }), { role: 'listen' }, /^listen\.audioDevice: contains a space$/],
    ['segment index', (c) => c, { segmentStartIndex: -1 }, /^segmentStartIndex: /],
    ['instance', (c) => c, { instance: 'A b' }, /^instance: /],
    ['uplink socket', (c) => c, { uplinkSocket: 'rel/u.sock' }, /^uplinkSocket: is not an absolute path$/],
  ])('%s', (_what, change, o, message) => {
    const e = refusal(() => buildLessonPlan(change(base()), { ...opts, ...o }));
    expect(e.message).toMatch(message);
  });

  it('a plan built from good settings has every pipeline, with unique element names', () => {
    const c = base();
    const plan = buildLessonPlan({ ...c, listen: { ...c.listen, urlTemplate: 'srt://127.0.0.1:9001?streamid=#!::r=live/{peerRoomId},m=request' } }, { ...opts, role: 'listen', peerRoomId: 'QZ-PEER-0002' });
    expect(plan.pipelines.map((p) => p.id)).toEqual(['playback', 'audio-source', 'video-source', 'main', 'uplink']);
    expect(plan.echoCancel).toBe(true);
    const all = plan.pipelines.flatMap((p) => p.elements);
    expect(new Set(all).size).toBe(all.length);
    expect(plan.recording?.location).toBe('/tmp/lectern-rec/L1/seg-%05d.ts');
  });
});
