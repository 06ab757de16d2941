/**
 * The display driver's public surface for the agent: build the classroom display from config,
 * watch its health, drive it; the lesson hooks; the simulator for simulate mode; the CLI
 * registrations.
 */
export { Display, type DisplayHealthListener, type DisplayOptions, type DisplayState, type DisplayStatus } from './controller.js';
export {
  checkDisplayConfig,
  createDisplay,
  createDisplayChannel,
  displayConfigSchema,
  displayInputs,
  type CreateDisplayOptions,
  type DisplayConfig,
} from './config.js';
export { DisplayLessonHooks, isLastLessonOfDay, type DisplayControl, type DisplayLessonHooksOptions, type PreRollResult } from './hooks.js';
export { DisplayArgumentError, DisplayError, DisplayPortError, DisplayRefusedError, DisplayTimeoutError, isDisplayError } from './errors.js';
export { DisplaySimulator, SIM_PROFILES, type DisplaySimulatorOptions, type SimDisplayFaults, type SimProfile } from './simulator.js';
export { registerDisplayCommands, registerSimDisplay, startSimDisplay, type SimDisplayCliOptions } from './cli.js';
export type { DisplayChannel, ChannelKind } from './channel.js';
export type { PowerState, ProfileName } from './protocol.js';
