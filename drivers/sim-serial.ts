import { SerialPort } from 'serialport';
import type { Logger } from '../agent/log.js';

/** The byte link a simulator gives each attached port: what arrives, and when the port goes. */
export interface SimLink {
  receive(chunk: Uint8Array): void;
  close(): void;
}

/**
 * The serial ports a device simulator (camera, display) serves, each the far end of a pty pair
 * or a real adapter: bytes in go to the simulator's link, its replies go out; closing them looks
 * like a pulled cable from the other side.
 */
export class SimSerialPorts {
  private readonly ports = new Set<SerialPort>();

  constructor(
    private readonly log: Logger,
    private readonly what: string,
  ) {}

  async attach(path: string, baudRate: number, connect: (send: (bytes: Uint8Array) => void) => SimLink): Promise<void> {
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    await new Promise<void>((resolve, reject) => {
      port.open((err) => (err ? reject(err) : resolve()));
    });
    const link = connect((bytes) => {
      if (port.isOpen) port.write(Buffer.from(bytes));
    });
    this.ports.add(port);
    port.on('data', (chunk: Buffer) => link.receive(chunk));
    port.on('error', (err: Error) => this.log.debug({ err, path }, `${this.what} serial error`));
    port.on('close', () => {
      link.close();
      this.ports.delete(port);
    });
  }

  async detach(): Promise<void> {
    await Promise.all(
      [...this.ports].map(
        (port) =>
          new Promise<void>((resolve) => {
            if (!port.isOpen) return resolve();
            port.close(() => resolve());
          }),
      ),
    );
    this.ports.clear();
  }
}
