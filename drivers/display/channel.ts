/**
 * The request-level link the display controller talks through: an RS-232 line with a protocol
 * codec (SerialChannel), or HDMI-CEC through `cec-ctl` (CecChannel). The controller depends on
 * this interface only; it adds the queue, retries, reopening and health.
 */
import type { DisplayOutcome, DisplayRequest } from './protocol.js';

export type ChannelKind = 'serial' | 'cec';

export interface ChannelClose {
  /** True when the device went away (unplugged), false after close(). */
  disconnected: boolean;
  error?: Error;
}

export interface DisplayChannel {
  readonly kind: ChannelKind;
  /** The serial path or CEC device, for messages. */
  readonly name: string;
  readonly isOpen: boolean;
  /** Named inputs the channel can select. */
  readonly inputs: readonly string[];
  supports(request: DisplayRequest): boolean;
  /** Rejects with a DisplayPortError (absent: true when the device does not exist). */
  open(): Promise<void>;
  close(): Promise<void>;
  /**
   * Sends one request and waits up to `timeoutMs` for its answer. Rejects with a
   * DisplayTimeoutError (no answer), DisplayPortError (the port failed) or DisplayArgumentError.
   * A refusal is an outcome, not an error: the controller decides what it means.
   */
  exchange(request: DisplayRequest, timeoutMs: number): Promise<DisplayOutcome>;
  /** The device went away (or the channel was closed). */
  onClose(listener: (e: ChannelClose) => void): () => void;
}
