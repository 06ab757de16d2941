// Media settings (schema, defaults, checks), encoder probing with the fallback to x264enc, and
// `lectern pipeline print`.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../agent/errors.js';
import { silentLogger } from '../../agent/log.js';
import { registerPipelineCommands } from '../../pipelines/cli.js';
import { checkMediaConfig, defaultMediaConfig, mediaConfigSchema, resolveMediaConfig, simulatedMediaConfig } from '../../pipelines/config.js';
import { descriptionWords } from '../../pipelines/describe.js';
import { probeH264Encoders, testEncode } from '../../pipelines/encoders.js';
import { loadGstBinding } from '../../pipelines/gst.js';

const binding = loadGstBinding();
const tmp = mkdtempSync(join(tmpdir(), 'lectern-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('media settings', () => {
  it('defaults are complete and valid', () => {
    const c = defaultMediaConfig();
    expect(c.recording).toEqual({ enabled: true, dir: '/var/lib/lectern/recordings', segmentSec: 60, fullQuality: true });
    expect(c.uplink).toMatchObject({ protocol: 'srt', urlTemplate: '', latencyMs: 300, bitrate: { floorKbps: 600, startKbps: 2000, ceilingKbps: 3000 } });
    expect(c.encoder.preference).toEqual(['vaapih264enc', 'nvh264enc', 'x264enc']);
    expect(c.output).toEqual({ width: 1280, height: 720, fps: 30 });
    expect(checkMediaConfig(c)).toEqual([]);
    expect(mediaConfigSchema.additionalProperties).toBe(false);
  });

  it('the simulated kit: test sources, local SRT, recordings under the data dir', () => {
    const c = simulatedMediaConfig('/tmp/lectern-simdata');
    expect(c.video).toMatchObject({ type: 'test', pattern: 'ball', overlay: 'clock' });
    expect(c.audio).toMatchObject({ type: 'test', testWave: 'sine' });
    expect(c.recording.dir).toBe('/tmp/lectern-simdata/recordings');
    expect(c.uplink.urlTemplate).toContain('{deviceId}');
    expect(c.listen.urlTemplate).toContain('{peerRoomId}');
  });

  it('reports every problem with its setting', () => {
    let err: unknown;
    try {
      resolveMediaConfig({
        video: { type: 'rtsp' },
        uplink: { urlTemplate: 'srt://media.example:10080?streamid={room}', bitrate: { floorKbps: 3000, startKbps: 2000, ceilingKbps: 1000 } },
        recording: { dir: 'relative/dir' },
        audio: { type: 'alsa', device: 'hw:0 ! fakesink' },
      });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([
      'video.url: is required for an RTSP camera',
      'audio.device: contains a space',
      'uplink.urlTemplate: contains an unknown placeholder {room}',
      'uplink.bitrate: needs floorKbps <= startKbps <= ceilingKbps',
      'recording.dir: is not an absolute path',
    ]);
    expect(() => resolveMediaConfig({ output: { fps: 500 } })).toThrow(/\/media\/output\/fps/);
    expect(() => resolveMediaConfig({ uplink: { protocol: 'rtmp', urlTemplate: 'rtmp://h/live/{deviceId}' }, audioEncoder: { codec: 'opus' } })).toThrow(/RTMP carries AAC only/);
  });
});

describe('H.264 encoder probing', () => {
  it('hardware encoders that are not installed are skipped with the reason; x264enc is chosen', async () => {
    const r = await probeH264Encoders(['vaapih264enc', 'nvh264enc', 'x264enc'], { binding, log: silentLogger() });
    expect(r.chosen).toBe('x264enc');
    expect(r.attempts.map((a) => [a.encoder, a.ok])).toEqual([
      ['vaapih264enc', false],
      ['nvh264enc', false],
      ['x264enc', true],
    ]);
    expect(r.attempts[0]!.reason).toMatch(/not installed/);
  });

  it('an encoder that claims to exist but cannot encode fails its test encode; x264enc is added last', async () => {
    const exists = async (f: string) => f === 'nvh264enc' || f === 'x264enc';
    const r = await probeH264Encoders(['nvh264enc'], { binding, log: silentLogger(), exists, all: true });
    expect(r.chosen).toBe('x264enc');
    expect(r.usable).toEqual(['x264enc']);
    expect(r.attempts[0]).toMatchObject({ encoder: 'nvh264enc', ok: false });
    expect(r.attempts[0]!.reason).toMatch(/cannot build a test pipeline.*nvh264enc/);
    expect(await testEncode(binding, 'x264enc', 8000)).toBeUndefined();
  });
});

describe('lectern pipeline print', () => {
  async function print(args: string[]): Promise<{ out: string; code: number | undefined }> {
    const program = new Command('lectern').exitOverride();
    registerPipelineCommands(program);
    let out = '';
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out += chunk.toString();
      return true;
    });
    const before = process.exitCode;
    try {
      await program.parseAsync(['node', 'lectern', 'pipeline', 'print', ...args]);
    } finally {
      spy.mockRestore();
    }
    const code = process.exitCode as number | undefined;
    process.exitCode = before;
    return { out, code };
  }

  it('prints each pipeline of a simulated lecture; every description parses in GStreamer', async () => {
    const { out, code } = await print(['--role', 'lecture', '--simulate']);
    expect(code ?? 0).toBe(0);
    expect(out).toMatch(/^# encoder x264enc: works$/m);
    const blocks = out.split(/^# (?=(?:playback|audio-source|video-source|main|uplink): )/m).slice(1);
    const ids = blocks.map((b) => b.split(':')[0]);
    expect(ids).toEqual(['audio-source', 'video-source', 'main', 'uplink']);
    for (const b of blocks) {
      const description = b.split('\n').slice(1).join('\n').trim();
      expect(description.length).toBeGreaterThan(50);
      expect(() => new binding.Pipeline(description)).not.toThrow();
    }
    expect(out).toContain('streamid="#!::r=live/SIM-LECTERN-0001,m=publish"');
  });

  it('a listening room from a config file, as one shell command line', async () => {
    const file = join(tmp, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        deviceId: 'QZ-FZ-0102-R305',
        media: {
          video: { type: 'test' },
          audio: { type: 'test' },
          uplink: { urlTemplate: 'srt://media.example:10080?streamid=#!::r=live/{deviceId},m=publish' },
          listen: { urlTemplate: 'srt://media.example:10080?streamid=#!::r=live/{peerRoomId},m=request', videoSink: 'fake', audioSink: 'fake' },
          recording: { dir: join(tmp, 'rec') },
        },
      }),
    );
    const probed = await print(['--role', 'listen', '--config', file, '--peer-room-id', 'QZ-FZ-0101-R201']);
    expect(probed.out).toMatch(/^# encoder vaapih264enc: element not installed/m);
    expect(probed.out).toMatch(/^# playback: plays the peer room's stream$/m);
    const { out } = await print(['--role', 'listen', '--config', file, '--peer-room-id', 'QZ-FZ-0101-R201', '--encoder', 'x264enc', '--shell']);
    expect(out.split('\n').filter(Boolean)).toHaveLength(1);
    expect(out).toMatch(/^mkdir -p .* && gst-launch-1\.0 -e /);
    expect(out).toContain(`'streamid="#!::r=live/QZ-FZ-0101-R201,m=request"'`);
    expect(out).toContain('webrtcechoprobe');
    expect(out).toContain('webrtcdsp');
  });

  it('refuses a hostile setting with its name and a usage exit status', async () => {
    const file = join(tmp, 'bad.json');
    writeFileSync(file, JSON.stringify({ deviceId: 'QZ-FZ-0102-R305', media: { uplink: { urlTemplate: 'srt://h:1 ! filesink location=/etc/passwd' } } }));
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    let stderr = '';
    err.mockImplementation((chunk: string | Uint8Array) => {
      stderr += chunk.toString();
      return true;
    });
    try {
      const { code } = await print(['--role', 'lecture', '--config', file, '--encoder', 'x264enc']);
      expect(code).toBe(2);
    } finally {
      err.mockRestore();
    }
    expect(stderr).toMatch(/uplink\.urlTemplate: contains a space/);
  });

  it('the words of a printed description are what gst-launch-1.0 needs', () => {
    expect(descriptionWords('srtsink name=upsink streamid="#!::r=live/x,m=publish" latency=300')).toEqual(['srtsink', 'name=upsink', 'streamid="#!::r=live/x,m=publish"', 'latency=300']);
  });
});
