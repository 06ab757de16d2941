/**
 * What a driver reports about its device, in the contract's `deviceHealth` shape: the heartbeat's
 * device list and the `device.fault` / `device.recovered` events are built from these.
 */
export type DeviceKind = 'camera' | 'microphone' | 'display' | 'encoder' | 'storage' | 'uplink';
export type DeviceStatus = 'ok' | 'degraded' | 'fault' | 'absent';

export interface DeviceHealth {
  kind: DeviceKind;
  /** The device's name from config (for example `teacher`), 1–64 characters. */
  id: string;
  model?: string;
  status: DeviceStatus;
  /** What is wrong or notable, for a technician; at most 500 characters. */
  detail?: string;
}

/** A driver that the agent watches: it reports its health now and tells when it changes. */
export interface HealthSource {
  health(): DeviceHealth;
  onHealthChange(listener: (now: DeviceHealth, before: DeviceHealth) => void): () => void;
}

export function clampDetail(detail: string): string {
  return detail.length <= 500 ? detail : `${detail.slice(0, 497)}...`;
}
