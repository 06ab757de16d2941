import { DeviceError } from '../../agent/errors.js';

/**
 * Errors of the display driver. Each names the port (serial path or CEC device) so that a
 * technician reading a log line or a CLI message knows which cable to check.
 */
export class DisplayError extends DeviceError {
  constructor(
    message: string,
    /** The serial path or CEC device of the display. */
    readonly port: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** No reply (or no reply that made sense) arrived in time, after all tries. */
export class DisplayTimeoutError extends DisplayError {
  constructor(
    message: string,
    port: string,
    readonly tries: number,
    /** Bytes that arrived but were not a reply to the request (hex), if any. */
    readonly garbage?: string,
  ) {
    super(message, port);
  }
}

/** The panel answered, but refused the command (Samsung NAK, LG NG, BenQ `-`, CEC abort). */
export class DisplayRefusedError extends DisplayError {
  constructor(
    message: string,
    port: string,
    /** What the panel said, as far as the protocol tells (e.g. a NAK error code). */
    readonly reason: string,
  ) {
    super(message, port);
  }
}

/** The port cannot carry the request: missing, not open, disconnected or closed. */
export class DisplayPortError extends DisplayError {
  constructor(
    message: string,
    port: string,
    /** True when the port itself does not exist: the adapter or the CEC device is gone. */
    readonly absent: boolean,
    options?: { cause?: unknown },
  ) {
    super(message, port, options);
  }
}

/** A request the profile or the command table cannot express (unknown input, no such command). */
export class DisplayArgumentError extends DisplayError {}

export function isDisplayError(e: unknown): e is DisplayError {
  return e instanceof DisplayError;
}
