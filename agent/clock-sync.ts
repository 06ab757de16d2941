import { execFile } from 'node:child_process';

/**
 * Whether the system clock is synchronised, from systemd-timedated. Where systemd is not PID 1
 * (containers, test machines) timedatectl fails and the honest answer is 'unknown', which the
 * readiness check neither passes nor fails.
 */
export function clockSynced(): Promise<'yes' | 'no' | 'unknown'> {
  return new Promise((resolve) => {
    execFile('timedatectl', ['show', '--property=NTPSynchronized', '--value'], { timeout: 3000 }, (err, stdout) => {
      if (err) return resolve('unknown');
      const v = stdout.trim();
      resolve(v === 'yes' ? 'yes' : v === 'no' ? 'no' : 'unknown');
    });
  });
}
