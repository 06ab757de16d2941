// TypeScript shapes of the contract's messages (see ./schemas). Kept by hand, checked by the
// tests that validate every published payload against the schemas.
import type { DeviceHealth } from '../devices.js';

export type Role = 'lecture' | 'listen';
export type LessonStatus = 'completed' | 'interrupted' | 'missed' | 'cancelled';
export type LessonTrigger = 'timetable' | 'manual' | 'platform';

export interface StatusMessage {
  online: boolean;
  ts: string;
  deviceId: string;
  bootId: string;
  reason?: 'connection-lost' | 'shutdown';
  agentVersion?: string;
  role?: Role | 'both';
  school?: string;
  room?: string;
  timetableVersion?: string | null;
  capabilities?: Capabilities;
}

export interface Capabilities {
  cameras?: string[];
  microphones?: string[];
  displays?: string[];
  encoders?: string[];
  uplink?: ('srt' | 'rtmp')[];
}

export interface LessonNow {
  lessonId: string;
  state: 'preparing' | 'live' | 'stopping';
  subject: string;
  startedAt: string;
}

export interface StreamNow {
  state: 'connecting' | 'live' | 'reconnecting' | 'failed';
  bitrateKbps: number;
  rttMs?: number | null;
  lossPct?: number | null;
  droppedFrames?: number;
}

export interface Readiness {
  lessonId: string;
  ready: boolean;
  checkedAt: string;
  failures: string[];
}

export interface Health {
  seq?: number;
  ts: string;
  bootId: string;
  uptimeSec: number;
  cpu: { loadPct: number; tempC: number | null };
  memory: { usedPct: number; agentRssBytes: number };
  disk: { cacheFreeBytes: number; cacheUsedBytes: number };
  devices: DeviceHealth[];
  lesson: LessonNow | null;
  stream: StreamNow | null;
  outbox: { pending: number; oldestTs?: string | null };
  uploads: { pending: number; bytesPending: number };
  timetableVersion: string | null;
  readiness?: Readiness | null;
}

export type EventType =
  | 'lesson.readiness'
  | 'lesson.started'
  | 'device.fault'
  | 'device.recovered'
  | 'disk.low'
  | 'stream.failed'
  | 'stream.recovered'
  | 'recording.uploaded'
  | 'timetable.applied'
  | 'timetable.rejected'
  | 'command.rejected'
  | 'clock.unsynced';

export type Severity = 'info' | 'warning' | 'error';

export interface EventMessage {
  eventId: string;
  ts: string;
  type: EventType;
  severity: Severity;
  lessonId?: string | null;
  device?: DeviceHealth;
  message?: string;
  details?: Record<string, unknown>;
}

export type Interruption = {
  from: string;
  to: string | null;
  reason: 'agent-restart' | 'power-loss' | 'uplink-down' | 'camera-fault' | 'microphone-fault' | 'encoder-fault' | 'other';
};

export interface LessonRecord {
  lessonId: string;
  deviceId: string;
  entryId?: string | null;
  timetableVersion?: string | null;
  status: LessonStatus;
  trigger: LessonTrigger;
  role: Role;
  subject: string;
  grade?: string;
  className?: string;
  teacher?: string;
  date: string;
  scheduledStart: string | null;
  scheduledEnd: string | null;
  actualStart: string | null;
  actualEnd: string | null;
  durationSec: number;
  effective: boolean;
  peerRoomIds: string[];
  interruptions: Interruption[];
  recording: { segments: number; bytes: number; durationSec: number; sha256?: string[] };
  streamUptimePct: number;
}

export type ErrorCode = 'unknown-command' | 'bad-request' | 'expired' | 'conflict' | 'device-error' | 'internal';

export interface ReplyMessage {
  requestId: string;
  command: string;
  ok: boolean;
  ts: string;
  result?: Record<string, unknown>;
  error?: { code: ErrorCode; message: string };
}

export interface CommandMessage {
  requestId: string;
  expiresAt?: string;
  args?: Record<string, unknown>;
}

export interface TimetableBell {
  period: number;
  start: string;
  end: string;
}

export interface TimetableEntry {
  id: string;
  weekday: number;
  period: number;
  subject: string;
  grade?: string;
  className?: string;
  teacher?: string;
  role: Role;
  peerRoomIds?: string[];
  weeks?: 'all' | 'odd' | 'even';
  preset?: number;
}

export interface TimetableException {
  date: string;
  type: 'holiday' | 'workday';
  followsWeekday?: number;
  note?: string;
}

export interface Timetable {
  version: string;
  timezone: string;
  term: { start: string; end: string };
  bells: TimetableBell[];
  entries: TimetableEntry[];
  exceptions?: TimetableException[];
}

export const DEVICE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$/;
