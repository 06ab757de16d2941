import { spawn, type ChildProcess } from 'node:child_process';
import type { Logger } from './log.js';

/**
 * The systemd notification protocol (sd_notify): READY=1 once started, WATCHDOG=1 from the work
 * loop, STOPPING=1 on shutdown, STATUS= for `systemctl status`.
 *
 * Node has no unix datagram sockets, so one long-lived `socat` child writes each line it reads
 * on stdin as a datagram to $NOTIFY_SOCKET. It stays alive in the service's cgroup, which lets
 * systemd attribute its messages to the unit (the unit sets NotifyAccess=all); a short-lived
 * `systemd-notify` per message can exit before systemd looks at it and have it dropped.
 * Without $NOTIFY_SOCKET (not run by systemd) every call does nothing.
 */
export class SdNotify {
  private proc: ChildProcess | undefined;
  private lastWatchdog = 0;
  readonly watchdogIntervalMs: number | undefined;

  constructor(
    private readonly log: Logger,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    const usec = Number(env.WATCHDOG_USEC);
    const forUs = !env.WATCHDOG_PID || Number(env.WATCHDOG_PID) === process.pid;
    // Ping at half the watchdog period, as systemd recommends.
    this.watchdogIntervalMs = Number.isFinite(usec) && usec > 0 && forUs ? usec / 2000 : undefined;
  }

  get enabled(): boolean {
    return Boolean(this.env.NOTIFY_SOCKET);
  }

  ready(status?: string): void {
    this.send(['READY=1', `MAINPID=${process.pid}`, ...(status ? [`STATUS=${status}`] : [])]);
  }

  status(text: string): void {
    this.send([`STATUS=${text.replace(/\n/g, ' ')}`]);
  }

  stopping(): void {
    this.send(['STOPPING=1']);
  }

  /** Called by the work loop after each healthy round; sends at most one ping per half period. */
  alive(): void {
    if (this.watchdogIntervalMs === undefined) return;
    const now = Date.now();
    if (now - this.lastWatchdog < this.watchdogIntervalMs) return;
    this.lastWatchdog = now;
    this.send(['WATCHDOG=1']);
  }

  close(): void {
    this.proc?.stdin?.end();
    this.proc = undefined;
  }

  private send(lines: string[]): void {
    const socket = this.env.NOTIFY_SOCKET;
    if (!socket) return;
    const proc = this.proc ?? this.spawn(socket);
    // One write per message; if socat reads two at once they share a datagram, which the
    // protocol allows (newline-separated assignments).
    proc.stdin?.write(lines.join('\n') + '\n');
  }

  private spawn(socket: string): ChildProcess {
    const address = socket.startsWith('@') ? `ABSTRACT-SENDTO:${socket.slice(1)}` : `UNIX-SENDTO:${socket}`;
    const proc = spawn('socat', ['-u', 'STDIN', address], { stdio: ['pipe', 'ignore', 'pipe'] });
    proc.on('error', (e) => this.log.error({ err: e }, 'cannot run socat for systemd notifications (provisioning/bootstrap.sh installs it)'));
    proc.stdin?.on('error', () => undefined);
    proc.stderr?.on('data', (d: Buffer) => this.log.warn({ socat: d.toString().trim() }, 'systemd notification failed'));
    proc.on('exit', () => {
      if (this.proc === proc) this.proc = undefined;
    });
    this.proc = proc;
    return proc;
  }
}
