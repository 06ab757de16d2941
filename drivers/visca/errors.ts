import { DeviceError } from '../../agent/errors.js';

/**
 * Errors of the VISCA driver. Every one names the port (or host:port) and, where there is one,
 * the camera address, so a technician reading a log line or a CLI message knows which cable to
 * check without any other context.
 */
export class ViscaError extends DeviceError {
  constructor(
    message: string,
    /** The serial path or host:port of the bus. */
    readonly port: string,
    /** The camera address 1–7, when the error concerns one camera. */
    readonly address?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** No reply (ACK, answer or Completion) arrived in time, after all tries. */
export class ViscaTimeoutError extends ViscaError {
  constructor(
    message: string,
    port: string,
    address: number | undefined,
    /** Which reply was missing: the short ACK/answer or the long Completion. */
    readonly phase: 'reply' | 'completion',
    readonly tries: number,
  ) {
    super(message, port, address);
  }
}

/** The camera answered with a VISCA error packet (`z0 6y ee FF`). */
export class ViscaCameraError extends ViscaError {
  constructor(
    message: string,
    port: string,
    address: number,
    /** The VISCA error code: 0x01 length, 0x02 syntax, 0x03 buffer full, 0x04 cancelled, 0x05 no socket, 0x41 not executable. */
    readonly viscaCode: number,
  ) {
    super(message, port, address);
  }
}

/** The command was cancelled (by the caller, by the camera, or before it reached the wire). */
export class ViscaCancelledError extends ViscaError {}

/** The camera is in standby and the command is not a power or inquiry command; nothing was sent. */
export class ViscaPoweredOffError extends ViscaError {}

/** The bus cannot carry the request: port missing, not open, disconnected or closed. */
export class ViscaBusError extends ViscaError {
  constructor(
    message: string,
    port: string,
    /** True when the port itself is missing (ENOENT): the device is unplugged. */
    readonly absent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, port, undefined, options);
  }
}

/** A value given to the driver or the CLI is outside what VISCA or the camera accepts. */
export class ViscaArgumentError extends ViscaError {}
