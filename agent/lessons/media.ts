import type { StreamNow } from '../contract/types.js';

/** What the lesson loop needs from the media part (GStreamer pipelines) for one lesson. */
export interface MediaLessonInfo {
  lessonId: string;
  role: 'lecture' | 'listen';
  peerRoomIds: string[];
  /**
   * Told when the stream to the media server goes down (`up: false`) and comes back, with the
   * moment the pipelines saw it: the lesson record lists each outage in `interruptions`.
   */
  onUplink?(change: { up: boolean; at: Date }): void;
}

export interface RecordingSummary {
  segments: number;
  bytes: number;
  durationSec: number;
  sha256?: string[];
}

/** The pipelines of one running lesson. */
export interface MediaSession {
  /** The uplink stream now, in the heartbeat's shape. */
  stream(): StreamNow | null;
  /** Milliseconds the uplink stream has been live since this session started. */
  streamUpMs(): number;
  /**
   * Caps the recording's video bitrate in kbit/s (null lifts the cap), while the lesson plays:
   * the disk cannot hold the rest of the lesson at full rate. Absent where the media cannot.
   */
  setRecordingCap?(kbps: number | null): void;
  /** Ends the lesson's pipelines (the last segment finalised) and sums up the recording. */
  stop(): Promise<RecordingSummary>;
}

export interface LessonMedia {
  start(lesson: MediaLessonInfo): Promise<MediaSession>;
}

export const NO_RECORDING: RecordingSummary = { segments: 0, bytes: 0, durationSec: 0 };
