/**
 * The VISCA camera driver's public surface for the agent: build cameras from config, watch
 * their health, drive them; the simulator for simulate mode; the CLI registrations.
 */
export { Camera, type CameraInfo, type CameraOptions, type FocusMode, type HealthListener, type ZoomAction } from './camera.js';
export {
  CAMERA_ID_PATTERN,
  cameraConfigSchema,
  camerasConfigSchema,
  checkCameraConfigs,
  createCameras,
  type CameraConfig,
  type CameraTransportConfig,
  type CreateCamerasOptions,
} from './config.js';
export { ViscaController, type BusState, type ControllerOptions, type SendOptions, type SendResult } from './controller.js';
export type { Direction, PowerState, VersionInfo } from './codec.js';
export {
  ViscaArgumentError,
  ViscaBusError,
  ViscaCameraError,
  ViscaCancelledError,
  ViscaError,
  ViscaPoweredOffError,
  ViscaTimeoutError,
} from './errors.js';
export { createMemoryLink, MemoryPeer, MemoryTransport } from './memory.js';
export { ViscaSimulator, SimCamera, type SimFaults, type SimQuirks, type SimulatorOptions, type SimStats } from './simulator.js';
export { registerCameraCommands, registerSimCamera, startSimCamera, type CliIo, type SimCameraCliOptions } from './cli.js';
export type { ViscaTransport, TransportKind } from './transport.js';
