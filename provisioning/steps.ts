/**
 * Provisioning and diagnostics are lists of steps run one after another. Each step looks at the
 * kit (or the config) and returns one result: passed, failed (with the fix), a warning, or
 * skipped (with why). The runner times each step, turns a thrown error into a failed result
 * (one broken check never stops the others) and reports progress, one line per step.
 *
 * Each kind of hardware (cameras, display, microphone) has its own steps in the lists in
 * provision.ts and doctor.ts; nothing here knows about devices.
 */
import { errorMessage } from '../agent/errors.js';

export type StepStatus = 'pass' | 'fail' | 'warn' | 'skip';

/**
 * Stable names for each class of failure, so scripts (and the platform's support staff) can
 * tell them apart in `--json` output without parsing messages.
 */
export type FailureCode =
  | 'config-invalid'
  | 'camera-missing'
  | 'camera-not-answering'
  | 'camera-move-failed'
  | 'display-missing'
  | 'display-not-answering'
  | 'display-test-failed'
  | 'microphone-missing'
  | 'microphone-no-alsa'
  | 'microphone-silent'
  | 'microphone-level-failed'
  | 'microphone-controls-failed'
  | 'video-device-missing'
  | 'audio-device-missing'
  | 'no-h264-encoder'
  | 'test-clip-failed'
  | 'gst-plugin-missing'
  | 'certificate-invalid'
  | 'certificate-expired'
  | 'certificate-key-mismatch'
  | 'clock-unsynced'
  | 'disk-full'
  | 'media-server-unreachable'
  | 'broker-unreachable'
  | 'broker-credentials-rejected'
  | 'broker-tls-failed'
  | 'broker-publish-refused'
  | 'uplink-too-slow'
  | 'state-unreadable'
  | 'config-write-failed'
  | 'step-crashed';

export interface StepOutcome {
  status: StepStatus;
  /** One line: what was found. */
  detail: string;
  /** For a failure or warning: what the technician should do. */
  fix?: string;
  code?: FailureCode;
  /** Facts for the JSON report (devices found, figures measured). */
  data?: unknown;
}

export interface StepResult extends StepOutcome {
  id: string;
  title: string;
  ms: number;
}

export interface Step<C> {
  id: string;
  title: string;
  run(ctx: C): Promise<StepOutcome | StepOutcome[]>;
}

export const pass = (detail: string, data?: unknown): StepOutcome => ({ status: 'pass', detail, ...(data !== undefined ? { data } : {}) });
export const skip = (detail: string): StepOutcome => ({ status: 'skip', detail });
export const warn = (detail: string, fix: string, data?: unknown): StepOutcome => ({ status: 'warn', detail, fix, ...(data !== undefined ? { data } : {}) });
export const fail = (code: FailureCode, detail: string, fix: string, data?: unknown): StepOutcome => ({
  status: 'fail',
  code,
  detail,
  fix,
  ...(data !== undefined ? { data } : {}),
});

export type Progress = (event: { index: number; total: number; step: { id: string; title: string }; result?: StepResult }) => void;

/**
 * Runs the steps in order. A step may return several outcomes (one per camera, per certificate):
 * each becomes its own result under the step's id.
 */
export async function runSteps<C>(steps: readonly Step<C>[], ctx: C, progress?: Progress): Promise<StepResult[]> {
  const results: StepResult[] = [];
  for (const [i, step] of steps.entries()) {
    progress?.({ index: i + 1, total: steps.length, step });
    const t0 = Date.now();
    let outcomes: StepOutcome[];
    try {
      const r = await step.run(ctx);
      outcomes = Array.isArray(r) ? r : [r];
    } catch (e) {
      outcomes = [fail('step-crashed', `the check itself failed: ${errorMessage(e)}`, 'run it again; if it keeps failing, send a support bundle (lectern support-bundle)')];
    }
    const ms = Date.now() - t0;
    for (const o of outcomes) {
      const result: StepResult = { id: step.id, title: step.title, ms, ...o };
      results.push(result);
      progress?.({ index: i + 1, total: steps.length, step, result });
    }
  }
  return results;
}

const MARK: Record<StepStatus, string> = { pass: '[ ok ]', fail: '[FAIL]', warn: '[warn]', skip: '[skip]' };

/** One progress line for a finished result: `[3/9] serial ports: ok  2 ports`. */
export function progressLine(index: number, total: number, result: StepResult): string {
  return `[${index}/${total}] ${result.title}: ${result.status === 'pass' ? 'ok' : result.status.toUpperCase()}  ${result.detail}`;
}

/** The checklist printed at the end: every result, and the fix under each failure or warning. */
export function formatChecklist(results: readonly StepResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${MARK[r.status]} ${r.title}: ${r.detail}`);
    if (r.fix && (r.status === 'fail' || r.status === 'warn')) lines.push(`       fix: ${r.fix}`);
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  const warned = results.filter((r) => r.status === 'warn').length;
  lines.push('', failed ? `${failed} check${failed === 1 ? '' : 's'} failed${warned ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}` : `all checks passed${warned ? ` (${warned} warning${warned === 1 ? '' : 's'})` : ''}`);
  return lines.join('\n') + '\n';
}

export function anyFailed(results: readonly StepResult[]): boolean {
  return results.some((r) => r.status === 'fail');
}
