/** The USB microphone driver: what the agent and the CLI use. */
export { Microphone, settingsFor, type MicrophoneOptions, type MicState, type LessonView } from './microphone.js';
export { microphoneConfigSchema, checkMicrophoneConfig, type MicrophoneConfig, type MicrophoneConfigInput } from './config.js';
export { NodeUsbBus, UsbUnavailableError, type UsbBus, type UsbDeviceLike } from './usb.js';
export { KNOWN_MODELS, classify, type MicCandidate } from './models.js';
export { findAlsaCapture, type AlsaCapture } from './alsa.js';
