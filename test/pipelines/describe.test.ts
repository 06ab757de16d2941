// The description builder and its quoting, against GStreamer's own parser: hostile strings are
// either refused with the setting named, or reach the element intact without adding anything.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { UnsafeValueError } from '../../agent/errors.js';
import { Fraction, caps, descriptionWords, el, elementNames, quoted, ref, render, shellWord, token, type Chain } from '../../pipelines/describe.js';
import { loadGstBinding } from '../../pipelines/gst.js';
import { buildLessonPlan } from '../../pipelines/builder.js';
import { resolveMediaConfig, type MediaConfig } from '../../pipelines/config.js';
import { parsedElementNames } from '../support/media.js';

const binding = loadGstBinding();
const tmp = mkdtempSync(join(tmpdir(), 'lectern-describe-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Characters that mean something to the parser, and some that mean something elsewhere. */
const HOSTILE = ['!', '"', "'", '\\', '=', ',', ';', '{', '}', '(', ')', '[', ']', '<', '>', ' ', '\n', '\r', '\t', '\0', '#', '.', ':', '%', '@', '$', '`', '|', '&', '*', '?', '/', '-', '~', '\u00a0', '\u2028', '课', '😀', 'a', 'b', 'Z', '0', 'fakesink', 'filesink location=/tmp/x', ' ! ', 'name=', 'NULL', '\ud800'];
const hostileString = fc.array(fc.constantFrom(...HOSTILE), { minLength: 0, maxLength: 12 }).map((parts) => parts.join(''));
/** Strings made of characters a setting may legitimately hold (the property needs accepted cases too). */
const plainish = (chars: string[]) => fc.array(fc.constantFrom(...chars), { minLength: 1, maxLength: 10 }).map((p) => p.join(''));
const mostlyPlain = (chars: string[]) => fc.oneof({ arbitrary: plainish(chars), weight: 2 }, { arbitrary: hostileString, weight: 3 });
const pathish = mostlyPlain(['a', 'b', ' ', '课', '_', '-', '~', '=', ',', ':', '@', '+', 'x.y']);
const anyString = fc.oneof(hostileString, fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 20 }));

/**
 * Element names as a sorted list with the numbers GStreamer appends to generated names removed
 * (`capsfilter12` → `capsfilter`): two parses of the same layout compare equal, one more element
 * of any kind does not.
 */
function layout(names: Set<string>): string[] {
  return [...names].map((n) => n.replace(/_?\d+$/, '')).sort();
}

function unsafeFor(setting: string): (e: unknown) => boolean {
  return (e) => e instanceof UnsafeValueError && e.setting === setting && e.message.startsWith(`${setting}: `);
}

describe('quoted values', () => {
  it('writes the value in double quotes, escaping only the double quote', () => {
    expect(quoted('Sans 20', 's').text).toBe('"Sans 20"');
    expect(quoted('a"b', 's').text).toBe('"a\\"b"');
    expect(quoted('#!::r=live/QZ-1,m=publish', 's').value).toBe('#!::r=live/QZ-1,m=publish');
  });

  it.each([
    ['', 'is empty'],
    ['a\nb', 'contains a line break'],
    ['a\0b', 'contains a NUL character'],
    ['a\\b', 'contains a backslash'],
    ['a\tb', 'contains a control character (U+0009)'],
    ['NULL', 'is the reserved word NULL'],
    ['"wrapped"', 'is wrapped in double quotes'],
    ['bad\ud800', 'is not valid Unicode'],
    ['x'.repeat(5000), 'is longer than 4096 characters'],
  ])('refuses %j: %s, naming the setting', (value, reason) => {
    expect(() => quoted(value, 'uplink.urlTemplate')).toThrow(`uplink.urlTemplate: ${reason}`);
  });

  it('elements, caps and references reject names that are not identifiers', () => {
    expect(() => el('fakesink ! filesink', {}, 'x')).toThrow(UnsafeValueError);
    expect(() => el('fakesink', {}, 'Bad Name')).toThrow(UnsafeValueError);
    expect(() => el('fakesink', { 'location=x': true }, 'x')).toThrow(UnsafeValueError);
    expect(() => el('fakesink', { name: token('y') }, 'x')).toThrow(UnsafeValueError);
    expect(() => token('a b')).toThrow(UnsafeValueError);
    expect(() => caps('video/x-raw ! fakesink')).toThrow(UnsafeValueError);
    expect(() => caps('video/x-raw', { width: 1.5 })).toThrow(UnsafeValueError);
    expect(() => caps('video/x-raw', { framerate: new Fraction(30, 0) })).toThrow(UnsafeValueError);
    expect(() => ref('rec', 'video ! x')).toThrow(UnsafeValueError);
    expect(() => el('x264enc', { bitrate: Number.NaN }, 'e')).toThrow(UnsafeValueError);
  });

  it('renders chains; every element needs a unique name', () => {
    const chains: Chain[] = [
      [el('videotestsrc', { 'is-live': true, pattern: token('ball') }, 'src'), caps('video/x-raw', { width: 320, framerate: new Fraction(15, 1) }), el('tee', {}, 't')],
      [ref('t'), el('queue', { 'max-size-time': 0.5 }, 'q'), el('fakesink', {}, 'sink')],
    ];
    expect(render(chains)).toBe('videotestsrc name=src is-live=true pattern=ball ! video/x-raw,width=320,framerate=15/1 ! tee name=t\nt. ! queue name=q max-size-time=0.5 ! fakesink name=sink');
    expect(elementNames(chains)).toEqual(['src', 't', 'q', 'sink']);
    expect(() => render([[el('fakesrc', {}), el('fakesink', {}, 'a')]])).toThrow(/has no name/);
    expect(() => render([[el('fakesrc', {}, 'a'), el('fakesink', {}, 'a')]])).toThrow(/used twice/);
  });

  it('splits a description into gst-launch words, keeping quoted values whole', () => {
    expect(descriptionWords('a name=x text="camera offline" ! b\nc. ! d s="q\\" r"')).toEqual(['a', 'name=x', 'text="camera offline"', '!', 'b', 'c.', '!', 'd', 's="q\\" r"']);
    expect(shellWord('text="a b"')).toBe(`'text="a b"'`);
    expect(shellWord("it's")).toBe(`'it'\\''s'`);
    expect(shellWord('plain=1')).toBe('plain=1');
  });
});

describe('hostile strings through the real GStreamer parser', () => {
  it('a string property gets exactly the value, and the pipeline exactly its three elements', async () => {
    let accepted = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(anyString, async (s) => {
        let text;
        try {
          text = quoted(s, 'overlay.text');
        } catch (e) {
          expect(e).toSatisfy(unsafeFor('overlay.text'));
          refused++;
          return;
        }
        accepted++;
        // A harmless string property (textoverlay would also work, but logs Pango markup errors).
        const desc = render([[el('videotestsrc', { 'num-buffers': 1 }, 'src'), el('identity', {}, 'overlay'), el('intervideosink', { channel: text }, 'sink')]]);
        const pipeline = new binding.Pipeline(desc);
        expect(pipeline.findChild('sink')?.channel).toBe(s);
        expect([...(await parsedElementNames(binding, desc))].sort()).toEqual(['overlay', 'sink', 'src']);
      }),
      { numRuns: 120 },
    );
    // The generators must exercise both outcomes for the property to mean anything.
    expect(accepted).toBeGreaterThan(10);
    expect(refused).toBeGreaterThan(10);
  });

  // Settings go straight to the builder here (the config check would refuse most of them first):
  // the builder must hold on its own.
  const media = (urlTemplate: string, dir = join(tmp, 'rec'), protocol: 'srt' | 'rtmp' = 'srt'): MediaConfig => {
    const c = resolveMediaConfig({ video: { type: 'test' }, audio: { type: 'test' }, output: { width: 320, height: 240, fps: 15 } });
    return { ...c, uplink: { ...c.uplink, urlTemplate, protocol }, recording: { ...c.recording, dir } };
  };
  const plan = (urlTemplate: string, dir?: string, protocol?: 'srt' | 'rtmp') =>
    buildLessonPlan(media(urlTemplate, dir, protocol), { role: 'lecture', deviceId: 'QZ-TEST-0001', lessonId: 'L1', encoder: 'x264enc', instance: 'p1', uplinkSocket: join(tmp, 'u.sock') });

  it('an SRT stream id from a URL template reaches srtsink intact, or the template is refused', async () => {
    const benign = plan('srt://127.0.0.1:9?streamid=x').pipelines.find((x) => x.id === 'uplink')!;
    const expected = layout(await parsedElementNames(binding, benign.description));
    expect(expected).toEqual(expect.arrayContaining(benign.elements));
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(anyString, mostlyPlain(['a', 'Z', '9', '#', '!', ':', ',', '=', '/', '课', '%41', '{', '}', '@', '.'])), async (s) => {
        const template = `srt://127.0.0.1:9?streamid=#!::r=live/{deviceId},m=publish,x=${s}`;
        let p;
        try {
          p = plan(template);
        } catch (e) {
          expect(e).toBeInstanceOf(UnsafeValueError);
          expect((e as UnsafeValueError).setting).toMatch(/^uplink\.urlTemplate( streamid)?$/);
          return;
        }
        accepted++;
        const uplink = p.pipelines.find((x) => x.id === 'uplink')!;
        const pipeline = new binding.Pipeline(uplink.description);
        const sink = pipeline.findChild('upsink')!;
        expect(sink.streamid).toBe(`#!::r=live/QZ-TEST-0001,m=publish,x=${decodeURIComponent(s)}`);
        expect(sink.uri).toBe('srt://127.0.0.1:9');
        expect(layout(await parsedElementNames(binding, uplink.description))).toEqual(expected);
      }),
      { numRuns: 60 },
    );
    expect(accepted).toBeGreaterThan(5);
  });

  it('a recording directory reaches splitmuxsink intact, or is refused naming recording.dir', async () => {
    const benign = plan('', join(tmp, 'benign')).pipelines.find((x) => x.id === 'main')!;
    const expectedNames = layout(await parsedElementNames(binding, benign.description));
    expect(expectedNames).toEqual(expect.arrayContaining(benign.elements));
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(pathish, async (s) => {
        const dir = `${tmp}/${s}`;
        let p;
        try {
          p = plan('', dir);
        } catch (e) {
          expect(e).toSatisfy(unsafeFor('recording.dir'));
          return;
        }
        accepted++;
        const main = p.pipelines.find((x) => x.id === 'main')!;
        const pipeline = new binding.Pipeline(main.description);
        expect(pipeline.findChild('rec')?.location).toBe(p.recording!.location);
        expect(p.recording!.location.startsWith(`${tmp}/`)).toBe(true);
        expect(layout(await parsedElementNames(binding, main.description))).toEqual(expectedNames);
      }),
      { numRuns: 40 },
    );
    expect(accepted).toBeGreaterThan(3);
  });

  it('an RTMP URL reaches rtmp2sink intact, or is refused naming uplink.urlTemplate', async () => {
    const rtmpPlan = (template: string) => plan(template, undefined, 'rtmp');
    const benign = rtmpPlan('rtmp://127.0.0.1:19350/live/{deviceId}').pipelines.find((x) => x.id === 'uplink')!;
    const expected = layout(await parsedElementNames(binding, benign.description));
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(mostlyPlain(['live', 'app', '.', '~', '-', '_', '1']), mostlyPlain(['token', '=', 'abc', '&', '%20', '-', '.', '']), async (app, query) => {
        const template = `rtmp://127.0.0.1:19350/${app}/{deviceId}?${query}`;
        let p;
        try {
          p = rtmpPlan(template);
        } catch (e) {
          expect(e).toSatisfy(unsafeFor('uplink.urlTemplate'));
          return;
        }
        accepted++;
        const uplink = p.pipelines.find((x) => x.id === 'uplink')!;
        const pipeline = new binding.Pipeline(uplink.description);
        expect(pipeline.findChild('upsink')?.location).toBe(template.replace('{deviceId}', 'QZ-TEST-0001'));
        expect(layout(await parsedElementNames(binding, uplink.description))).toEqual(expected);
      }),
      { numRuns: 40 },
    );
    expect(accepted).toBeGreaterThan(2);
  });

  it('a V4L2 device path is allow-listed: accepted ones reach v4l2src as they are', () => {
    let accepted = 0;
    fc.assert(
      fc.property(mostlyPlain(['video', '0', 'v4l', '/by-id/', 'usb-046d_C920', '-index0', ':', '+', '.']), (s) => {
        const device = `/dev/${s}`;
        const base = media('');
        let p;
        try {
          p = buildLessonPlan({ ...base, video: { ...base.video, type: 'v4l2', device } }, {
            role: 'lecture',
            deviceId: 'QZ-TEST-0001',
            lessonId: 'L1',
            encoder: 'x264enc',
            instance: 'p3',
            uplinkSocket: join(tmp, 'u3.sock'),
          });
        } catch (e) {
          expect(e).toSatisfy(unsafeFor('video.device'));
          return;
        }
        accepted++;
        // No state change here (there is no camera); the allow-list leaves no syntax to abuse.
        const source = p.pipelines.find((x) => x.id === 'video-source')!;
        const pipeline = new binding.Pipeline(source.description);
        expect(pipeline.findChild('vsrc')?.device).toBe(device);
        for (const n of source.elements) expect(pipeline.findChild(n)).toBeDefined();
      }),
      { numRuns: 60 },
    );
    expect(accepted).toBeGreaterThan(2);
  });
});

describe('the recording keeps full quality under an adaptive uplink', () => {
  const media = (fullQuality: boolean, adaptive = true): MediaConfig => {
    const c = resolveMediaConfig({
      video: { type: 'test' },
      audio: { type: 'test' },
      output: { width: 320, height: 240, fps: 15 },
      uplink: { urlTemplate: 'srt://127.0.0.1:9', adaptive, bitrate: { floorKbps: 300, startKbps: 1200, ceilingKbps: 3000 } },
      recording: { dir: join(tmp, 'fq'), fullQuality },
    });
    return c;
  };
  const main = (c: MediaConfig) =>
    buildLessonPlan(c, { role: 'lecture', deviceId: 'QZ-TEST-0001', lessonId: 'L1', encoder: 'x264enc', instance: 'fq', uplinkSocket: join(tmp, 'fq.sock') }).pipelines.find(
      (p) => p.id === 'main',
    )!;

  it('gives the recording its own encoder at the ceiling; the stream encoder starts at startKbps', async () => {
    const m = main(media(true));
    expect(m.elements).toEqual(expect.arrayContaining(['venc', 'recenc', 'rawtee']));
    expect(m.description).toMatch(/x264enc name=recenc [^!]*bitrate=3000 /);
    expect(m.description).toMatch(/x264enc name=venc [^!]*bitrate=1200 /);
    // GStreamer's parser builds exactly what the plan says (two encoders, one camera).
    const names = layout(await parsedElementNames(binding, m.description));
    expect(names.filter((n) => n === 'venc' || n === 'recenc')).toEqual(['recenc', 'venc']);
    expect(names).toContain('rawtee');
  });

  it('shares one encoder when fullQuality is off, or when the uplink is not adaptive', () => {
    for (const c of [media(false), media(true, false)]) {
      const m = main(c);
      expect(m.elements).toContain('venc');
      expect(m.elements).not.toContain('recenc');
      expect(m.elements).not.toContain('rawtee');
    }
  });
});
