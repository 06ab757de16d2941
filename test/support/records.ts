import type { LessonRecord } from '../../agent/contract/types.js';

/** A valid class-hour record for tests, varied by `i`. */
export function sampleRecord(deviceId: string, i: number, over: Partial<LessonRecord> = {}): LessonRecord {
  const day = 1 + (i % 28);
  const date = `2026-09-${String(day).padStart(2, '0')}`;
  const subjects = ['数学', '语文', '英语'];
  return {
    lessonId: `${deviceId}:entry-${i}:${date}`,
    deviceId,
    entryId: `entry-${i}`,
    timetableVersion: '2026-fall.3',
    status: i % 7 === 3 ? 'missed' : 'completed',
    trigger: 'timetable',
    role: 'lecture',
    subject: subjects[i % 3]!,
    date,
    scheduledStart: `${date}T08:50:00+08:00`,
    scheduledEnd: `${date}T09:30:00+08:00`,
    actualStart: `${date}T08:50:00+08:00`,
    actualEnd: `${date}T09:30:00+08:00`,
    durationSec: 2400,
    effective: i % 7 !== 3 && i % 5 !== 4,
    peerRoomIds: i % 2 ? ['QZ-AX-0312-R101'] : ['QZ-AX-0312-R101', 'QZ-AX-0318-R102'],
    interruptions: [],
    recording: { segments: 40, bytes: 900_000_000, durationSec: 2400 },
    streamUptimePct: 99.5,
    ...over,
  };
}
