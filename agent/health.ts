import { statfs, readdir, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { currentLoad, cpuTemperature } from 'systeminformation/lib/cpu.js';
import { mem as memory } from 'systeminformation/lib/memory.js';
import type { DeviceHealth } from './devices.js';
import type { Health, LessonNow, Readiness, StreamNow } from './contract/types.js';
import type { Clock } from './clock.js';
import { isoInZone } from './contract/time.js';

export interface HealthSources {
  bootId: string;
  startedAt: Date;
  dataDir: string;
  clock: Clock;
  timeZone(): string;
  devices(): DeviceHealth[];
  outbox(): { pending: number; oldestTs: string | null };
  timetableVersion(): string | null;
  lesson?(): LessonNow | null;
  stream?(): StreamNow | null;
  uploads?(): { pending: number; bytesPending: number };
  readiness?(): Readiness | null;
}

/**
 * Measures the device's health as the contract's `health` object: real CPU load, temperature
 * (null where the machine has no sensor), memory, the agent's RSS, the data dir's free and used
 * bytes, plus what the drivers and features report. The data dir's size is walked at most once
 * a minute.
 */
export class HealthCollector {
  private usedBytes = 0;
  private usedAt = 0;

  constructor(private readonly src: HealthSources) {}

  async measure(): Promise<Health> {
    const now = this.src.clock.now();
    const [load, temp, mem, disk, used] = await Promise.all([
      currentLoad().catch(() => undefined),
      cpuTemperature().catch(() => undefined),
      memory().catch(() => undefined),
      statfs(this.src.dataDir).catch(() => undefined),
      this.cacheUsed(now.getTime()),
    ]);
    const tempC = typeof temp?.main === 'number' && Number.isFinite(temp.main) && temp.main > 0 ? round1(temp.main) : null;
    const outbox = this.src.outbox();
    return {
      ts: isoInZone(now, this.src.timeZone()),
      bootId: this.src.bootId,
      uptimeSec: Math.max(0, Math.floor((now.getTime() - this.src.startedAt.getTime()) / 1000)),
      cpu: { loadPct: clampPct(load?.currentLoad ?? 0), tempC },
      memory: {
        usedPct: mem && mem.total > 0 ? clampPct(((mem.total - mem.available) / mem.total) * 100) : 0,
        agentRssBytes: process.memoryUsage.rss(),
      },
      disk: { cacheFreeBytes: disk ? Number(disk.bavail) * Number(disk.bsize) : 0, cacheUsedBytes: used },
      devices: this.src.devices().slice(0, 32),
      lesson: this.src.lesson?.() ?? null,
      stream: this.src.stream?.() ?? null,
      outbox: { pending: outbox.pending, oldestTs: outbox.oldestTs ? isoInZone(new Date(outbox.oldestTs), this.src.timeZone()) : null },
      uploads: this.src.uploads?.() ?? { pending: 0, bytesPending: 0 },
      timetableVersion: this.src.timetableVersion(),
      readiness: this.src.readiness?.() ?? null,
    };
  }

  private async cacheUsed(nowMs: number): Promise<number> {
    if (nowMs - this.usedAt > 60_000) {
      this.usedBytes = await directorySize(this.src.dataDir);
      this.usedAt = nowMs;
    }
    return this.usedBytes;
  }
}

async function directorySize(dir: string): Promise<number> {
  let total = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await directorySize(p);
    else if (e.isFile()) total += await lstat(p).then((s) => s.size, () => 0);
  }
  return total;
}

const round1 = (n: number): number => Math.round(n * 10) / 10;
const clampPct = (n: number): number => round1(Math.min(100, Math.max(0, Number.isFinite(n) ? n : 0)));
