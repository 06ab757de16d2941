// The media pipelines of a lesson: what the agent imports.
export { LessonPipelines } from './runtime.js';
export type {
  BitrateEvent,
  DeviceChangeEvent,
  EncoderFallbackEvent,
  LessonPipelineEvents,
  LessonPipelinesOptions,
  LessonStopResult,
  PlaybackNow,
  SegmentEvent,
  SilenceEvent,
  StreamDirection,
  StreamFailedEvent,
  StreamRecoveredEvent,
} from './runtime.js';
export { buildLessonPlan, combinedDescription, formatPlan, segmentFileName, segmentIndex, NAMES } from './builder.js';
export type { LessonPlan, PipelineId, PipelineSpec, PlanOptions, RecordingPlan, Role } from './builder.js';
export {
  checkMediaConfig,
  defaultMediaConfig,
  mediaConfigSchema,
  resolveMediaConfig,
  simulatedMediaConfig,
  AAC_ENCODERS,
  H264_DECODERS,
  H264_ENCODERS,
} from './config.js';
export type { H264EncoderName, MediaConfig, MediaConfigInput } from './config.js';
export { probeAacEncoder, probeH264Encoders } from './encoders.js';
export type { EncoderProbeResult, ProbeAttempt } from './encoders.js';
export { loadGstBinding, threadPoolSize } from './gst.js';
export { LessonMediaProcess, MediaWorkerError } from './process.js';
export type { LessonMediaProcessOptions, ProcessEvents } from './process.js';
export type { MediaSnapshot, WorkerOptions } from './worker.js';
export { registerPipelineCommands } from './cli.js';
