import { afterEach, describe, expect, it } from 'vitest';
import * as c from '../../../drivers/visca/codec.js';
import {
  ViscaBusError,
  ViscaCameraError,
  ViscaCancelledError,
  ViscaPoweredOffError,
  ViscaTimeoutError,
} from '../../../drivers/visca/errors.js';
import { ACK_MS, memoryRig, scriptedRig, settlesWithin, until, type MemoryRig } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const f of cleanups.splice(0).reverse()) await f();
});

async function rig(...args: Parameters<typeof memoryRig>): Promise<MemoryRig> {
  const r = await memoryRig(...args);
  cleanups.push(r.close);
  return r;
}

async function scripted(...args: Parameters<typeof scriptedRig>): ReturnType<typeof scriptedRig> {
  const r = await scriptedRig(...args);
  cleanups.push(r.close);
  return r;
}

describe('controller against the simulator (in memory)', () => {
  it('opens with Address Set and IF_Clear and answers inquiries', async () => {
    const { bus, sim } = await rig();
    expect(bus.state).toBe('open');
    expect(bus.chainLength).toBe(1);
    expect(sim.received.slice(0, 2)).toEqual(['88 30 01 FF', '88 01 00 01 FF']);
    const r = await bus.send(1, c.inquirePower(1));
    expect(c.decodePowerAnswer(r.data ?? new Uint8Array())).toEqual({ ok: true, value: 'on' });
    expect(r.tries).toBe(1);
    expect(bus.powerState(1)).toBe('on');
  });

  it('runs two long commands in the two sockets at once', async () => {
    const { bus, sim } = await rig({ moveSpeed: 4 });
    sim.camera(1).presets.set(3, { pan: 0x2000, tilt: 0x1000, zoom: 0 });
    const recall = bus.send(1, c.presetRecall(1, 3));
    const zoom = bus.send(1, c.zoomDirect(1, 0x3000));
    await until(() => sim.camera(1).busySockets.length === 2, 'both sockets busy');
    const [r1, r2] = await Promise.all([recall, zoom]);
    expect(new Set([r1.socket, r2.socket])).toEqual(new Set([1, 2]));
    expect(sim.camera(1).position()).toEqual({ pan: 0x2000, tilt: 0x1000, zoom: 0x3000 });
  });

  it('keeps one message in flight: the next waits for the ACK of the previous', async () => {
    // A long reply timeout: no retry may muddle the order on a slow machine.
    const { bus, script } = await scripted({ ackTimeoutMs: 3000 });
    script.onPacket = () => undefined;
    const first = bus.send(1, c.home(1));
    const second = bus.send(1, c.zoomStop(1));
    await script.waitFor(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(script.received).toEqual(['81 01 06 04 FF']);
    script.send('90 41 FF');
    await script.waitFor(2);
    expect(script.received[1]).toBe('81 01 04 07 00 FF');
    script.send('90 42 FF');
    script.send('90 52 FF');
    await expect(second).resolves.toMatchObject({ socket: 2 });
    script.send('90 51 FF');
    await expect(first).resolves.toMatchObject({ socket: 1, tries: 1 });
  });

  it('resends after buffer full once a socket frees', async () => {
    const { bus, sim } = await rig({ moveSpeed: 8 }, { bufferFullDelayMs: 2000 });
    sim.camera(1).presets.set(1, { pan: -0x2000, tilt: 0, zoom: 0 });
    const recall = bus.send(1, c.presetRecall(1, 1));
    const zoom = bus.send(1, c.zoomDirect(1, 0x4000));
    const focus = bus.send(1, c.focusManual(1));
    await expect(focus).resolves.toMatchObject({ tries: 1 });
    await Promise.all([recall, zoom]);
    // The focus command went out twice: refused with buffer full, then accepted.
    expect(sim.received.filter((p) => p === '81 01 04 38 03 FF')).toHaveLength(2);
    expect(sim.camera(1).focus).toBe('manual');
  });

  it('cancels a running command with 8x 2y FF', async () => {
    const { bus, sim } = await rig({ moveSpeed: 1 });
    sim.camera(1).presets.set(2, { pan: 0x2200, tilt: 0, zoom: 0 });
    const abort = new AbortController();
    const recall = bus.send(1, c.presetRecall(1, 2), { signal: abort.signal });
    await until(() => sim.camera(1).busySockets.length === 1, 'recall running');
    abort.abort();
    await expect(recall).rejects.toBeInstanceOf(ViscaCancelledError);
    expect(sim.received).toContain('81 21 FF');
    expect(sim.camera(1).busySockets).toEqual([]);
    // Stopped on the way, not at the preset.
    expect(sim.camera(1).position().pan).toBeLessThan(0x2200);
  });

  it('cancels a queued command without touching the wire', async () => {
    const { bus, script } = await scripted();
    script.onPacket = () => undefined;
    const first = bus.send(1, c.home(1), { ackTimeoutMs: 2000, tries: 1 });
    const abort = new AbortController();
    const second = bus.send(1, c.zoomTele(1), { signal: abort.signal });
    abort.abort();
    await expect(second).rejects.toThrow(/cancelled before it was sent/);
    script.send('90 41 FF');
    script.send('90 51 FF');
    await first;
    expect(script.received).toEqual(['81 01 06 04 FF']);
  });

  it('retries on a lost reply and reports the tries', async () => {
    const { bus, sim } = await rig();
    sim.dropNext(1);
    const r = await bus.send(1, c.inquireZoom(1));
    expect(r.tries).toBe(2);
    expect(sim.received.filter((p) => p === '81 09 04 47 FF')).toHaveLength(2);
  });

  it('gives up after 3 tries with a timeout naming port and camera', async () => {
    const { bus, sim } = await rig();
    sim.dropNext(3);
    const err = await bus.send(1, c.inquirePower(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ViscaTimeoutError);
    expect((err as ViscaTimeoutError).message).toBe('no reply to VISCA power inquiry from camera 1 on mem0 after 3 tries');
    expect((err as ViscaTimeoutError).tries).toBe(3);
    expect(sim.received.filter((p) => p === '81 09 04 00 FF')).toHaveLength(3);
  });

  it('does not resend a relative move whose reply was lost', async () => {
    const { bus, sim } = await rig();
    sim.dropNext(2);
    await expect(bus.send(1, c.relativeMove(1, 100, 0, 1, 1))).rejects.toThrow(/after 1 try \(not resent/);
    expect(sim.received.filter((p) => p.startsWith('81 01 06 03'))).toHaveLength(1);
  });

  it('times out a Completion that never comes', async () => {
    const { bus, sim } = await rig({ moveSpeed: 0.05 });
    sim.camera(1).presets.set(4, { pan: 0x2200, tilt: 0x1200, zoom: 0 });
    const err = await bus.send(1, c.presetRecall(1, 4), { completionTimeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ViscaTimeoutError);
    expect((err as ViscaTimeoutError).phase).toBe('completion');
    expect((err as Error).message).toMatch(/preset recall 4 on camera 1 \(mem0\) not completed within 300 ms/);
  });

  it('refuses non-power commands in standby without touching the wire', async () => {
    const { bus, sim } = await rig({ power: 'standby' });
    await bus.send(1, c.inquirePower(1));
    expect(bus.powerState(1)).toBe('standby');
    const before = sim.received.length;
    const err = await bus.send(1, c.presetRecall(1, 1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ViscaPoweredOffError);
    expect((err as Error).message).toMatch(/camera 1 on mem0 is in standby: preset recall 1 not sent/);
    expect(sim.received.length).toBe(before);
    // Inquiries and power still go.
    await bus.send(1, c.inquirePanTilt(1));
    await bus.send(1, c.powerOn(1));
    expect(bus.powerState(1)).toBe('on');
    await bus.send(1, c.presetRecall(1, 1));
  });

  it('maps error 41 from a camera whose power it did not know (socket never ACKed)', async () => {
    const { bus, sim } = await rig({ power: 'standby' });
    const err = await bus.send(1, c.home(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ViscaCameraError);
    expect((err as ViscaCameraError).viscaCode).toBe(0x41);
    expect((err as Error).message).toBe('home on camera 1 (mem0) failed: command not executable now (VISCA error 41)');
    expect(sim.received).toContain('81 01 06 04 FF');
    // The bus is free again.
    await expect(bus.send(1, c.inquirePower(1))).resolves.toMatchObject({ tries: 1 });
  });

  it('reports syntax and length errors from the camera', async () => {
    const { bus } = await rig();
    const bogus: c.ViscaRequest = { ...c.focusAuto(1), name: 'bogus', bytes: Uint8Array.of(0x81, 0x01, 0x7e, 0x7e, 0xff) };
    await expect(bus.send(1, bogus)).rejects.toMatchObject({ viscaCode: 0x02 });
    const long: c.ViscaRequest = { ...c.focusAuto(1), name: 'long power', bytes: Uint8Array.of(0x81, 0x01, 0x04, 0x00, 0x02, 0x00, 0xff) };
    await expect(bus.send(1, long)).rejects.toMatchObject({ viscaCode: 0x01 });
  });

  it('drives a daisy chain of two cameras after Address Set', async () => {
    const { bus, sim } = await rig({ cameras: 2 });
    expect(bus.chainLength).toBe(2);
    await bus.send(2, c.absoluteMove(2, 0x0100, 0x0080, 0x18, 0x17));
    await bus.send(1, c.zoomDirect(1, 0x0200));
    expect(sim.camera(2).position()).toMatchObject({ pan: 0x0100, tilt: 0x0080, zoom: 0 });
    expect(sim.camera(1).position()).toMatchObject({ pan: 0, tilt: 0, zoom: 0x0200 });
    const answer = await bus.send(2, c.inquirePanTilt(2));
    expect(c.decodePanTiltAnswer(answer.data ?? new Uint8Array())).toEqual({ ok: true, value: { pan: 0x0100, tilt: 0x0080 } });
  });

  it('a command to an address nobody has comes back round the ring and times out', async () => {
    const { bus, sim } = await rig({ cameras: 2 });
    await expect(bus.send(3, c.inquirePower(3), { tries: 1 })).rejects.toBeInstanceOf(ViscaTimeoutError);
    expect(sim.received).toContain('83 09 04 00 FF');
  });

  it('re-runs Address Set on Network Change', async () => {
    const { bus, sim } = await rig({ cameras: 2 });
    // The second camera lost its address (power cycle) and announces itself.
    sim.cameras[1]?.setPower('on');
    if (sim.cameras[1]) sim.cameras[1].address = 7;
    const changes: number[] = [];
    bus.onNetworkChange((a) => changes.push(a));
    sim.networkChange(7);
    await until(() => sim.received.filter((p) => p === '88 30 01 FF').length === 2, 'second Address Set');
    await until(() => sim.cameras[1]?.address === 2, 'camera 2 readdressed');
    expect(changes).toEqual([7]);
    await expect(bus.send(2, c.inquirePower(2))).resolves.toMatchObject({ tries: 1 });
  });

  it('powering on waits for Completion, then the Network Change triggers Address Set', async () => {
    const { bus, sim } = await rig({ power: 'standby', bootMs: 4000, moveSpeed: 20 });
    await bus.send(1, c.powerOn(1));
    expect(sim.camera(1).power).toBe('on');
    await until(() => sim.received.filter((p) => p === '88 30 01 FF').length === 2, 'Address Set after power-up');
  });

  it('rejects everything pending when stopped', async () => {
    const { bus, sim } = await rig({ moveSpeed: 0.1 });
    sim.camera(1).presets.set(5, { pan: 0x2000, tilt: 0, zoom: 0 });
    const recall = bus.send(1, c.presetRecall(1, 5));
    await until(() => sim.camera(1).busySockets.length === 1, 'recall running');
    const queued = bus.send(1, c.inquirePower(1));
    await bus.stop();
    await expect(recall).rejects.toBeInstanceOf(ViscaBusError);
    await expect(queued).rejects.toThrow(/mem0/);
    await expect(bus.send(1, c.inquirePower(1))).rejects.toThrow(/VISCA bus mem0 is stopped/);
  });
});

describe('controller survives camera quirks', () => {
  it('Completion in a socket that was never ACKed completes the command in flight', async () => {
    const { bus, script } = await scripted();
    script.onPacket = (p) => (p === '81 01 04 07 02 FF' ? ['90 52 FF'] : undefined);
    await expect(bus.send(1, c.zoomTele(1))).resolves.toMatchObject({ socket: 2 });
  });

  it('several commands reusing one socket all settle', async () => {
    const { bus, script } = await scripted();
    // Every command is ACKed in socket 1; the first never gets its own Completion.
    let n = 0;
    script.onPacket = () => (n++ === 0 ? ['90 41 FF'] : ['90 41 FF', '90 51 FF']);
    const first = bus.send(1, c.home(1));
    const second = bus.send(1, c.zoomStop(1));
    const third = bus.send(1, c.focusAuto(1));
    await expect(Promise.all([first, second, third])).resolves.toHaveLength(3);
  });

  it('error 41 naming a socket that was never ACKed fails the command in flight', async () => {
    const { bus, script } = await scripted();
    script.onPacket = (p) => (p === '81 01 06 04 FF' ? ['90 62 41 FF'] : ['90 50 02 FF']);
    await expect(bus.send(1, c.home(1))).rejects.toMatchObject({ viscaCode: 0x41 });
    await expect(bus.send(1, c.inquirePower(1))).resolves.toMatchObject({ tries: 1 });
  });

  it('a late ACK after a retry does not complete a later command', async () => {
    const { bus, script } = await scripted({ ackTimeoutMs: 300 });
    let homes = 0;
    script.onPacket = (p) => {
      if (p === '81 01 06 04 FF' && homes++ === 1) return ['90 41 FF', '90 42 FF'];
      return undefined;
    };
    // First send gets no reply; the retry is answered twice (the first ACK late, then the retry's).
    const home = bus.send(1, c.home(1));
    await script.waitFor(2);
    await until(() => homes === 2, 'retry');
    await new Promise((r) => setTimeout(r, 50));
    const zoom = bus.send(1, c.zoomStop(1));
    await script.waitFor(3);
    // Completion of the orphan socket 2 must not be taken for the zoom command's.
    script.send('90 52 FF');
    expect(await settlesWithin(zoom, 200)).toBe('pending');
    script.send('90 41 FF');
    script.send('90 51 FF');
    await expect(zoom).resolves.toMatchObject({ socket: 1 });
    // The home command had socket 1 and was taken as done when the camera reused it.
    await expect(home).resolves.toMatchObject({ socket: 1 });
  });

  it('a stray Network Change in the middle of a command does not disturb it', async () => {
    const { bus, script } = await scripted();
    script.onPacket = (p) => {
      if (p === '81 01 04 07 03 FF') return ['90 38 FF', '90 41 FF', '90 51 FF'];
      if (p === '88 30 01 FF') return ['88 30 02 FF'];
      return undefined;
    };
    await expect(bus.send(1, c.zoomWide(1))).resolves.toMatchObject({ socket: 1 });
    await script.waitFor(2);
    expect(script.received).toContain('88 30 01 FF');
  });

  it('buffer full, then accepted on the resend', async () => {
    const { bus, script } = await scripted({ bufferFullDelayMs: 50 });
    let n = 0;
    script.onPacket = () => (n++ === 0 ? ['90 60 03 FF'] : ['90 42 FF', '90 52 FF']);
    await expect(bus.send(1, c.focusOnePush(1))).resolves.toMatchObject({ socket: 2, tries: 1 });
    expect(script.received).toEqual(['81 01 04 18 01 FF', '81 01 04 18 01 FF']);
  });

  it('gives up on a buffer that stays full', async () => {
    const { bus, script } = await scripted({ bufferFullDelayMs: 20 });
    script.onPacket = () => ['90 60 03 FF'];
    const err = await bus.send(1, c.focusAuto(1), { completionTimeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ViscaCameraError);
    expect((err as Error).message).toMatch(/command buffer full .*still after \d+ resends/);
    expect(script.received.length).toBeGreaterThan(3);
  });

  it('replies split across reads and noise between packets', async () => {
    const { bus, sim } = await rig({ faults: { split: 1, noise: 0.5 } }, { tries: 5 });
    sim.camera(1).setPosition({ pan: -1234, tilt: 567, zoom: 0x0abc });
    for (let i = 0; i < 10; i++) {
      const r = await bus.send(1, c.inquirePanTilt(1));
      expect(c.decodePanTiltAnswer(r.data ?? new Uint8Array())).toEqual({ ok: true, value: { pan: -1234, tilt: 567 } });
    }
    await bus.send(1, c.zoomTele(1, 3));
    await bus.send(1, c.zoomStop(1));
    expect(sim.stats.noiseBytes).toBeGreaterThan(0);
  });

  it('with sim quirks: Completion without ACK and one socket for everything', async () => {
    const { bus, sim } = await rig({ quirks: { completionWithoutAck: true, reuseSocket: true }, moveSpeed: 10 });
    await bus.send(1, c.focusAuto(1));
    await bus.send(1, c.zoomTele(1));
    await bus.send(1, c.zoomStop(1));
    await bus.send(1, c.absoluteMove(1, 0x0400, 0x0100, 0x18, 0x17));
    expect(sim.camera(1).position()).toMatchObject({ pan: 0x0400, tilt: 0x0100 });
  });

  it('ACK wait is bounded: a silent camera fails within tries × timeout', async () => {
    const { bus, script } = await scripted();
    script.onPacket = () => undefined;
    const p = bus.send(1, c.inquireVersion(1));
    expect(await settlesWithin(p, ACK_MS * 3 + 3000)).toBe('rejected');
    expect(script.received).toHaveLength(3);
  });
});
