/**
 * Typed errors. Each carries a stable `code` that the CLI turns into an exit status and the
 * command dispatcher into a contract error code; the message names what is wrong.
 */
export class LecternError extends Error {
  constructor(
    message: string,
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A config file, option or setting is invalid. `problems` lists every one, each with its path. */
export class ConfigError extends LecternError {
  constructor(
    message: string,
    readonly problems: readonly string[] = [],
  ) {
    super(problems.length ? `${message}:\n  - ${problems.join('\n  - ')}` : message, 'config');
  }
}

/** The state database cannot be used (corrupt, wrong schema, unwritable). */
export class StateError extends LecternError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'state', options);
  }
}

/** A hardware device did not answer or answered with an error. */
export class DeviceError extends LecternError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'device', options);
  }
}

/** A value that would end up in a pipeline description, a path or a shell is unsafe. */
export class UnsafeValueError extends LecternError {
  constructor(
    readonly setting: string,
    reason: string,
  ) {
    super(`${setting}: ${reason}`, 'unsafe-value');
  }
}

export function isLecternError(e: unknown): e is LecternError {
  return e instanceof LecternError;
}

export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
