// The two parts of systeminformation the health collector uses. Importing them directly,
// rather than the package's index (which loads every probe it has: docker, wifi, printers…),
// keeps about 7 MB out of the daemon's resident memory.
declare module 'systeminformation/lib/cpu.js' {
  import type { Systeminformation } from 'systeminformation';
  export function currentLoad(): Promise<Systeminformation.CurrentLoadData>;
  export function cpuTemperature(): Promise<Systeminformation.CpuTemperatureData>;
}

declare module 'systeminformation/lib/memory.js' {
  import type { Systeminformation } from 'systeminformation';
  export function mem(): Promise<Systeminformation.MemData>;
}
